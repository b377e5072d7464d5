//! Limits that keep one upstream from hurting the rest, driven through the real binary against
//! the fixture: per-upstream item filters, `max_concurrency` and `limits.max_inflight` with
//! their bounded wait, per-tool timeouts and the circuit breaker. Every case asserts what the
//! caller sees (codes, `data`, how fast), what `/status` says, and what reached the upstream's
//! wire (a refused call never does).

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::modern::{assert_error, call_tool};
use support::{Config, Gateway, Upstream, tool_calls_on_wire, upstream_in};

const OVERLOADED: i64 = -31006;
const CIRCUIT_OPEN: i64 = -31007;
const UPSTREAM_TIMEOUT: i64 = -31002;

async fn ready(gw: &Gateway, n: usize) {
    gw.wait_status("upstreams to be ready", |st| {
        st["upstreams"]
            .as_array()
            .is_some_and(|u| u.len() == n && u.iter().all(|u| u["state"] == "ready"))
    })
    .await;
}

#[tokio::test]
async fn filtered_items_are_absent_and_answer_like_unknown_names() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(
            Upstream::fixture("fx")
                .log(&log)
                .setting("tools: { allow: [\"echo\", \"mirror\", \"slow\"], deny: [\"mirror\"] }")
                .setting("resources: { deny: [\"test://watched*\"] }"),
        )
        .start()
        .await;
    ready(&gw, 1).await;
    let s = gw.initialize().await;

    let tools = s.request("tools/list", None).await.result();
    let mut names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["fx__echo", "fx__slow"]);

    // Denied by `deny`, and left out by `allow`: each answers exactly like a name that never
    // existed, and nothing reaches the upstream.
    let unknown = s.call_tool("fx__no_such_tool", "{}").await.error();
    for name in ["fx__mirror", "fx__crash"] {
        let e = s.call_tool(name, "{}").await.error();
        assert_eq!(e["code"], unknown["code"], "{e}");
        assert_eq!(
            e["message"].as_str().unwrap().replace(name, "NAME"),
            unknown["message"]
                .as_str()
                .unwrap()
                .replace("fx__no_such_tool", "NAME"),
        );
        assert_eq!(tool_calls_on_wire(&log, &name[4..]), 0);
    }
    let ok = s.call_tool("fx__echo", r#"{"message":"hi"}"#).await;
    assert_eq!(ok.result()["content"][0]["text"], "hi", "{}", ok.text);

    let resources = s.request("resources/list", None).await.result();
    let uris: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["uri"].as_str())
        .collect();
    assert!(
        !uris.is_empty() && !uris.iter().any(|u| u.starts_with("test://watched")),
        "{uris:?}"
    );
    let read = s
        .request(
            "resources/read",
            Some(r#"{"uri":"test://watched-resource"}"#),
        )
        .await;
    let never = s
        .request("resources/read", Some(r#"{"uri":"test://never-existed"}"#))
        .await;
    assert_eq!(read.error()["code"], never.error()["code"], "{}", read.text);
}

#[tokio::test]
async fn max_concurrency_queues_then_refuses_and_never_hangs() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(
            Upstream::fixture("fx")
                .log(&log)
                .setting("max_concurrency: 2"),
        )
        .extra("limits: { max_queue: 1, max_wait: 400ms }\n")
        .start()
        .await;
    ready(&gw, 1).await;
    let s = gw.initialize().await;

    // Two slow calls take both slots.
    let slow = || s.call_tool("fx__slow", r#"{"ms":2500}"#);
    let (a, b) = (slow(), slow());
    let running = async {
        gw.wait_status("two calls in flight", |st| {
            upstream_in(st, "fx")["inflight"] == 2
        })
        .await;
        // The third waits in the queue; the fourth finds the queue full and is refused at once.
        let third = async {
            let t = Instant::now();
            (
                s.call_tool("fx__echo", r#"{"message":"third"}"#).await,
                t.elapsed(),
            )
        };
        let fourth = async {
            gw.wait_status("one call queued", |st| upstream_in(st, "fx")["queued"] == 1)
                .await;
            let t = Instant::now();
            (
                s.call_tool("fx__echo", r#"{"message":"fourth"}"#).await,
                t.elapsed(),
            )
        };
        tokio::join!(third, fourth)
    };
    let (ra, rb, ((third, t3), (fourth, t4))) = tokio::join!(a, b, running);

    let e = fourth.error();
    assert_eq!(e["code"], OVERLOADED, "{e}");
    assert_eq!(e["data"]["category"], "overloaded");
    assert_eq!(e["data"]["limit"], "fx");
    assert!(e["data"]["retry_after_ms"].as_u64().is_some(), "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("wait queue is full"),
        "{e}"
    );
    assert!(
        t4 < Duration::from_millis(300),
        "refused at once, took {t4:?}"
    );

    let e = third.error();
    assert_eq!(e["code"], OVERLOADED, "{e}");
    assert!(e["message"].as_str().unwrap().contains("400ms"), "{e}");
    assert!(
        t3 >= Duration::from_millis(380) && t3 < Duration::from_millis(2000),
        "waited max_wait, took {t3:?}"
    );

    for r in [ra, rb] {
        assert_eq!(
            r.result()["content"][0]["text"],
            "Slept for 2500 ms",
            "{}",
            r.text
        );
    }
    // Only admitted calls reached the upstream; the slots are free again.
    assert_eq!(tool_calls_on_wire(&log, "slow"), 2);
    assert_eq!(tool_calls_on_wire(&log, "echo"), 0);
    let r = s.call_tool("fx__echo", r#"{"message":"after"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "after", "{}", r.text);
    let st = gw.status().await;
    assert_eq!(upstream_in(&st, "fx")["inflight"], 0);
    assert_eq!(upstream_in(&st, "fx")["max_concurrency"], 2);
}

#[tokio::test]
async fn the_gateway_wide_limit_spans_upstreams_and_a_modern_caller_gets_429() {
    let gw = Config::new()
        .upstream(Upstream::fixture("a"))
        .upstream(Upstream::fixture("b"))
        .extra("limits: { max_inflight: 1, max_queue: 0 }\n")
        .start()
        .await;
    ready(&gw, 2).await;
    let s = gw.initialize().await;
    let busy = s.call_tool("a__slow", r#"{"ms":1500}"#);
    let other = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let handshake = s.call_tool("b__echo", r#"{"message":"x"}"#).await;
        let modern = call_tool(&gw, 7, "b__echo", json!({}), json!({})).await;
        (handshake, modern)
    };
    let (busy, (handshake, modern)) = tokio::join!(busy, other);
    let e = handshake.error();
    assert_eq!(e["code"], OVERLOADED, "{e}");
    assert_eq!(e["data"]["limit"], "the gateway");
    // 2026-07-28 callers get the error with HTTP 429.
    let e = assert_error(&modern, 429, OVERLOADED, 7);
    assert_eq!(e["data"]["category"], "overloaded");
    assert_eq!(busy.result()["content"][0]["text"], "Slept for 1500 ms");
    let r = s.call_tool("b__echo", r#"{"message":"free"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "free", "{}", r.text);
}

#[tokio::test]
async fn tool_timeouts_open_the_breaker_which_fails_fast_then_recovers() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c
        .upstream(
            Upstream::fixture("fx")
                .log(&log)
                .setting("tool_timeouts: { slow: 300ms }")
                .setting("breaker: { consecutive_failures: 2, open_for: 1500ms }"),
        )
        .start()
        .await;
    ready(&gw, 1).await;
    let s = gw.initialize().await;

    // The tool's own timeout (not the upstream's 30 s) ends each call.
    for _ in 0..2 {
        let t = Instant::now();
        let r = s.call_tool("fx__slow", r#"{"ms":5000}"#).await;
        assert_eq!(r.error()["code"], UPSTREAM_TIMEOUT, "{}", r.text);
        assert_eq!(r.error()["data"]["category"], "upstream_timeout");
        assert_eq!(r.error()["data"]["retryable"], true);
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "took {:?}",
            t.elapsed()
        );
    }
    // A tool's error result is the upstream answering: it never counts as a failure.
    let st = gw.status().await;
    assert_eq!(upstream_in(&st, "fx")["breaker"]["state"], "open", "{st}");
    assert_eq!(upstream_in(&st, "fx")["breaker"]["opens"], 1);

    // Open: refused at once, naming the upstream and when it retries; nothing reaches it.
    let t = Instant::now();
    let e = s.call_tool("fx__echo", r#"{"message":"x"}"#).await.error();
    assert!(t.elapsed() < Duration::from_millis(300));
    assert_eq!(e["code"], CIRCUIT_OPEN, "{e}");
    assert_eq!(e["data"]["upstream"], "fx");
    // The catalogue's category; the breaker is the finer reason.
    assert_eq!(e["data"]["category"], "upstream_unavailable");
    assert_eq!(e["data"]["retryable"], true);
    assert_eq!(e["data"]["reason"], "circuit_open");
    let retry = e["data"]["retry_after_ms"].as_u64().unwrap();
    assert!(retry > 0 && retry <= 1500, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("upstream fx"),
        "{e}"
    );
    assert_eq!(tool_calls_on_wire(&log, "echo"), 0);

    // After open_for, a probe goes through; its success closes the breaker.
    tokio::time::sleep(Duration::from_millis(retry + 100)).await;
    let r = s.call_tool("fx__echo", r#"{"message":"probe"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "probe", "{}", r.text);
    let st = gw.status().await;
    assert_eq!(upstream_in(&st, "fx")["breaker"]["state"], "closed", "{st}");
    assert_eq!(tool_calls_on_wire(&log, "echo"), 1);
}

#[tokio::test]
async fn application_errors_never_open_the_breaker() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx").setting("breaker: { consecutive_failures: 2 }"))
        .start()
        .await;
    ready(&gw, 1).await;
    let s = gw.initialize().await;
    for _ in 0..3 {
        // A tool's `isError` result and a JSON-RPC error are both the upstream answering.
        let r = s.call_tool("fx__test_error_handling", "{}").await;
        assert_eq!(r.result()["isError"], true, "{}", r.text);
        let r = s
            .request("resources/read", Some(r#"{"uri":"test://never-existed"}"#))
            .await;
        assert!(r.error()["code"].as_i64().is_some(), "{}", r.text);
    }
    let st = gw.status().await;
    assert_eq!(upstream_in(&st, "fx")["breaker"]["state"], "closed", "{st}");
}

#[tokio::test]
async fn a_result_over_max_result_bytes_is_cut_and_says_so() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx").setting("max_result_bytes: 10000"))
        .start()
        .await;
    ready(&gw, 1).await;
    let s = gw.initialize().await;
    let r = s.call_tool("fx__big", r#"{"bytes":100000}"#).await;
    let result = r.result();
    assert!(
        r.raw_result().len() <= 10000,
        "{} bytes",
        r.raw_result().len()
    );
    let content = result["content"].as_array().unwrap();
    let kept = content[0]["text"].as_str().unwrap();
    assert!(
        kept.len() > 9000 && kept.bytes().all(|b| b == b'x'),
        "{}",
        kept.len()
    );
    let marker = content.last().unwrap()["text"].as_str().unwrap();
    assert!(
        marker.contains("cut from") && marker.contains("fx__big"),
        "{marker}"
    );
    let meta = &result["_meta"]["io.github.switchboard-mcp/truncated"];
    assert!(meta["originalBytes"].as_u64().unwrap() > 100_000, "{meta}");
    assert_eq!(meta["limitBytes"], 10000);
    // A result under the limit is passed on untouched.
    let r = s.call_tool("fx__big", r#"{"bytes":5000}"#).await;
    assert_eq!(
        r.result()["content"][0]["text"].as_str().unwrap().len(),
        5000
    );
    assert!(r.result().get("_meta").is_none(), "{}", r.text);
}

/// The pids of fixture processes started with `--name NAME`.
fn fixture_pids(name: &str) -> Vec<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-f", &format!("switchboard-fixture --name {name}$")])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn alive(pid: u32) -> bool {
    // A stopped or running process; a zombie (exited, not yet reaped) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[tokio::test]
async fn a_hung_upstream_turns_degraded_then_is_restarted_by_its_health_checks() {
    let name = format!("hung{}", std::process::id());
    let gw = Config::new()
        .upstream(
            Upstream::fixture(&name)
                .setting("health: { interval: 300ms, timeout: 200ms, failures: 3 }"),
        )
        .start()
        .await;
    ready(&gw, 1).await;
    let pids = fixture_pids(&name);
    assert_eq!(pids.len(), 1, "{pids:?}");
    let hung = pids[0];
    // Alive but not answering: stopped, as a deadlocked server would be.
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &hung.to_string()])
            .status()
            .unwrap()
            .success()
    );

    let st = gw
        .wait_status("the upstream to be degraded", |st| {
            upstream_in(st, &name)["state"] == "degraded"
        })
        .await;
    let why = upstream_in(&st, &name)["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(why.contains("ping unanswered"), "{st}");

    // After three misses it is closed and a fresh process serves.
    let st = gw
        .wait_status("a restart", |st| {
            let u = upstream_in(st, &name);
            u["restarts"].as_u64() >= Some(1) && u["state"] == "ready"
        })
        .await;
    assert_eq!(upstream_in(&st, &name)["restarts"], 1, "{st}");
    let now = fixture_pids(&name);
    assert!(!alive(hung), "the hung process is gone");
    assert_eq!(now.iter().filter(|&&p| alive(p)).count(), 1, "{now:?}");
    let s = gw.initialize().await;
    let r = s
        .call_tool(&format!("{name}__echo"), r#"{"message":"back"}"#)
        .await;
    assert_eq!(r.result()["content"][0]["text"], "back", "{}", r.text);
    assert!(gw.stderr().contains("upstream state"), "{}", gw.stderr());
}

#[tokio::test]
async fn a_call_made_while_its_upstream_restarts_waits_and_succeeds() {
    let c = Config::new();
    let log = c.path("fx.log");
    let gw = c.upstream(Upstream::fixture("fx").log(&log)).start().await;
    ready(&gw, 1).await;
    let s = gw.initialize().await;
    let r = s.call_tool("fx__crash", "{}").await;
    assert!(r.response().unwrap().get("error").is_some(), "{}", r.text);
    gw.wait_status("the crash to be seen", |st| {
        upstream_in(st, "fx")["state"] != "ready"
    })
    .await;
    // Right after the crash, before the restart: the call waits for the new process.
    let t = Instant::now();
    let r = s
        .call_tool("fx__echo", r#"{"message":"after the restart"}"#)
        .await;
    assert_eq!(
        r.result()["content"][0]["text"],
        "after the restart",
        "{}",
        r.text
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    let st = gw.status().await;
    assert_eq!(upstream_in(&st, "fx")["restarts"], 1, "{st}");
    assert_eq!(tool_calls_on_wire(&log, "echo"), 1);
}

#[tokio::test]
async fn max_sessions_caps_the_processes_of_an_isolated_upstream() {
    let name = format!("iso{}", std::process::id());
    let gw = Config::new()
        .upstream(
            Upstream::fixture(&name)
                .setting("session: isolated")
                .setting("max_sessions: 2"),
        )
        .start()
        .await;
    let tool = format!("{name}__echo");
    let (a, b, c) = (
        gw.initialize().await,
        gw.initialize().await,
        gw.initialize().await,
    );
    for s in [&a, &b] {
        let r = s.call_tool(&tool, r#"{"message":"mine"}"#).await;
        assert_eq!(r.result()["content"][0]["text"], "mine", "{}", r.text);
    }
    let r = c.call_tool(&tool, r#"{"message":"third"}"#).await;
    let e = r.error();
    assert_eq!(e["code"], OVERLOADED, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("max_sessions of 2"),
        "{e}"
    );
    let st = gw.status().await;
    assert_eq!(upstream_in(&st, &name)["isolated_sessions"], 2, "{st}");
    // The shared process (for the catalog) and one per admitted session: three, not four.
    let live = fixture_pids(&name)
        .into_iter()
        .filter(|&p| alive(p))
        .count();
    assert_eq!(live, 3);

    // A session that ends gives its place back.
    assert!(a.delete().await.status().is_success());
    gw.wait_status("a place to be free", |st| {
        upstream_in(st, &name)["isolated_sessions"] == 1
    })
    .await;
    let r = c.call_tool(&tool, r#"{"message":"now"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "now", "{}", r.text);
}

/// `initialize` requests on a fixture's wire log: one per process started.
fn initializes(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["method"] == "initialize")
        .count()
}

/// `initializes`, once the wire log has caught up to at least `n` (the fixture logs in the
/// background), for an exact comparison.
async fn initializes_reaching(log: &std::path::Path, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    while initializes(log) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    initializes(log)
}

fn live_fixtures(name: &str) -> usize {
    fixture_pids(name).into_iter().filter(|&p| alive(p)).count()
}

#[tokio::test]
async fn a_lazy_upstream_starts_once_for_a_burst_and_stops_when_idle() {
    let name = format!("lazy{}", std::process::id());
    let c = Config::new();
    let log = c.path("lazy.log");
    let gw = c
        .upstream(
            Upstream::fixture(&name)
                .log(&log)
                .setting("start: lazy")
                .setting("idle_timeout: 1s"),
        )
        .start()
        .await;
    // Discovered at start, then stopped: cold, with its catalog listed and no process left.
    gw.wait_status("the upstream to be cold", |st| {
        upstream_in(st, &name)["state"] == "cold"
    })
    .await;
    assert_eq!(initializes_reaching(&log, 1).await, 1);
    let s = gw.initialize().await;
    let tool = format!("{name}__echo");
    let list = s.request("tools/list", None).await.result();
    assert!(
        list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == tool.as_str()),
        "{list}"
    );
    assert_eq!(
        live_fixtures(&name),
        0,
        "listing a cold upstream does not start it"
    );

    // A hundred concurrent first calls start one process, and all succeed.
    let calls = (0..100).map(|i| {
        let s = &s;
        let tool = &tool;
        async move { s.call_tool(tool, &format!(r#"{{"message":"m{i}"}}"#)).await }
    });
    let replies = futures::future::join_all(calls).await;
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(
            r.result()["content"][0]["text"],
            format!("m{i}"),
            "{}",
            r.text
        );
    }
    assert_eq!(
        initializes_reaching(&log, 2).await,
        2,
        "exactly one more process"
    );
    assert_eq!(live_fixtures(&name), 1);
    assert_eq!(upstream_in(&gw.status().await, &name)["state"], "ready");

    // Idle for idle_timeout: stopped again, nothing left running, the catalog still served.
    let st = gw
        .wait_status("the idle stop", |st| {
            upstream_in(st, &name)["state"] == "cold"
        })
        .await;
    assert!(
        upstream_in(&st, &name)["error"]
            .as_str()
            .unwrap()
            .contains("idle"),
        "{st}"
    );
    assert_eq!(live_fixtures(&name), 0);
    let list = s.request("tools/list", None).await.result();
    assert!(
        list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == tool.as_str())
    );
    let r = s.call_tool(&tool, r#"{"message":"again"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "again", "{}", r.text);
    assert_eq!(initializes_reaching(&log, 3).await, 3);
}

/// Every process below `root`, as (pid, command line).
fn descendants(root: u32) -> Vec<(u32, String)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0);
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .replace('\0', " ");
        all.push((pid, ppid, cmd));
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (pid, ppid, cmd) in &all {
            if *ppid == p {
                out.push((*pid, cmd.clone()));
                frontier.push(*pid);
            }
        }
    }
    out
}

/// A real server launched through `npx` (the pinned `@modelcontextprotocol/server-everything`
/// in tests/peers, no network) is stopped by `idle_timeout` with its whole process tree: npm's
/// wrapper and the node server under it.
#[tokio::test]
async fn an_npx_launched_server_stopped_when_idle_leaves_no_process_behind() {
    let peers =
        std::env::var("SWITCHBOARD_PEERS").expect("SWITCHBOARD_PEERS (run through scripts/test)");
    let gw = Config::new()
        .upstream(
            Upstream::command("ev", "npx", &["--no-install", "mcp-server-everything"])
                .cwd(&peers)
                .setting("idle_timeout: 2s"),
        )
        .start()
        .await;
    gw.wait_status("server-everything to be ready", |st| {
        upstream_in(st, "ev")["state"] == "ready"
    })
    .await;
    let s = gw.initialize().await;
    let r = s.call_tool("ev__echo", r#"{"message":"hello"}"#).await;
    assert!(
        r.result()["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("hello"),
        "{}",
        r.text
    );
    let tree: Vec<(u32, String)> = descendants(gw.pid())
        .into_iter()
        .filter(|(_, cmd)| !cmd.contains("__reaper"))
        .collect();
    assert!(
        tree.iter()
            .any(|(_, c)| c.contains("mcp-server-everything") || c.contains("server-everything")),
        "{tree:?}"
    );
    assert!(tree.len() >= 2, "npx and the server under it: {tree:?}");

    gw.wait_status("the idle stop", |st| {
        upstream_in(st, "ev")["state"] == "cold"
    })
    .await;
    // Give the process group's end a moment to be reaped.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<_> = tree.iter().filter(|(p, _)| alive(*p)).collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn group_config(strategy: &str) -> (Config, std::path::PathBuf, std::path::PathBuf) {
    let c = Config::new();
    let (la, lb) = (c.path("a.log"), c.path("b.log"));
    let c = c
        .upstream(
            Upstream::fixture("ma")
                .log(&la)
                .env("FIXTURE_ANNOTATE", "1")
                .timeout("400ms"),
        )
        .upstream(
            Upstream::fixture("mb")
                .log(&lb)
                .env("FIXTURE_ANNOTATE", "1"),
        )
        .upstream(Upstream::group("pool", &["ma", "mb"], strategy));
    (c, la, lb)
}

#[tokio::test]
async fn a_failover_group_moves_on_only_when_no_side_effect_can_repeat() {
    let (c, la, lb) = group_config("failover");
    let gw = c.start().await;
    gw.wait_status("the group to be ready", |st| {
        st["upstreams"]
            .as_array()
            .is_some_and(|u| u.iter().all(|u| u["state"] == "ready"))
    })
    .await;
    let s = gw.initialize().await;
    // Members are served only through the group.
    let list = s.request("tools/list", None).await.result();
    let names: Vec<&str> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"pool__echo") && names.contains(&"pool__slow"),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("ma__") || n.starts_with("mb__")),
        "{names:?}"
    );
    let st = gw.status().await;
    assert_eq!(
        upstream_in(&st, "pool")["members"],
        serde_json::json!(["ma", "mb"])
    );

    // Failover order: the first member serves.
    let r = s.call_tool("pool__echo", r#"{"message":"one"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "one", "{}", r.text);
    assert_eq!(
        (
            tool_calls_on_wire(&la, "echo"),
            tool_calls_on_wire(&lb, "echo")
        ),
        (1, 0)
    );

    // A read-only tool that times out on the first member moves to the second.
    let r = s.call_tool("pool__slow", r#"{"ms":1000}"#).await;
    assert_eq!(
        r.result()["content"][0]["text"],
        "Slept for 1000 ms",
        "{}",
        r.text
    );
    assert_eq!(
        (
            tool_calls_on_wire(&la, "slow"),
            tool_calls_on_wire(&lb, "slow")
        ),
        (1, 1)
    );

    // A destructive one is not repeated: the first member's failure is the caller's.
    let r = s.call_tool("pool__crash", "{}").await;
    assert!(r.response().unwrap().get("error").is_some(), "{}", r.text);
    assert_eq!(
        (
            tool_calls_on_wire(&la, "crash"),
            tool_calls_on_wire(&lb, "crash")
        ),
        (1, 0)
    );

    // With the first member down, the second serves at once (the call never reached it).
    let t = Instant::now();
    let r = s.call_tool("pool__echo", r#"{"message":"two"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "two", "{}", r.text);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(tool_calls_on_wire(&lb, "echo"), 1);
}

#[tokio::test]
async fn a_round_robin_group_spreads_calls() {
    let (c, la, lb) = group_config("round_robin");
    let gw = c.start().await;
    gw.wait_status("the group to be ready", |st| {
        st["upstreams"]
            .as_array()
            .is_some_and(|u| u.iter().all(|u| u["state"] == "ready"))
    })
    .await;
    let s = gw.initialize().await;
    for i in 0..6 {
        let r = s
            .call_tool("pool__echo", &format!(r#"{{"message":"{i}"}}"#))
            .await;
        assert_eq!(
            r.result()["content"][0]["text"],
            i.to_string(),
            "{}",
            r.text
        );
    }
    assert_eq!(
        (
            tool_calls_on_wire(&la, "echo"),
            tool_calls_on_wire(&lb, "echo")
        ),
        (3, 3)
    );
}

#[tokio::test]
async fn progress_extends_a_call_up_to_max_timeout_and_no_further() {
    let gw = Config::new()
        .upstream(
            Upstream::fixture("fx")
                .timeout("500ms")
                .setting("max_timeout: 2500ms"),
        )
        .start()
        .await;
    ready(&gw, 1).await;
    let s = gw.initialize().await;
    let call = |ms: u64, progress: bool| {
        let meta = if progress {
            r#","_meta":{"progressToken":"p1"}"#
        } else {
            ""
        };
        let params =
            format!(r#"{{"name":"fx__slow","arguments":{{"ms":{ms},"progress_ms":150}}{meta}}}"#);
        let s = &s;
        async move {
            let t = Instant::now();
            (s.request("tools/call", Some(&params)).await, t.elapsed())
        }
    };
    // Progress every 150 ms keeps a 1.5 s call alive past its 500 ms timeout.
    let (r, _) = call(1500, true).await;
    assert_eq!(
        r.result()["content"][0]["text"],
        "Slept for 1500 ms",
        "{}",
        r.text
    );
    // Without progress the timeout is final.
    let (r, took) = call(1500, false).await;
    assert_eq!(r.error()["code"], UPSTREAM_TIMEOUT, "{}", r.text);
    assert!(took < Duration::from_millis(1200), "took {took:?}");
    // With progress, max_timeout is the hard limit.
    let (r, took) = call(6000, true).await;
    assert_eq!(r.error()["code"], UPSTREAM_TIMEOUT, "{}", r.text);
    assert!(
        took >= Duration::from_millis(2400) && took < Duration::from_millis(4000),
        "took {took:?}"
    );
}

#[tokio::test]
async fn readyz_waits_for_required_upstreams_only() {
    let missing = "/nonexistent/switchboard-test-no-such-command";
    let gw = support::Gateway::launch(
        Config::new()
            .upstream(Upstream::fixture("fx").setting("required: true"))
            .upstream(Upstream::command("optional", missing, &[])),
    )
    .await;
    // One upstream that never starts, not required: ready once first attempts are over.
    gw.wait_status("first attempts", |st| {
        upstream_in(st, "fx")["state"] == "ready"
    })
    .await;
    let r = gw.client.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let gw = support::Gateway::launch(
        Config::new()
            .upstream(Upstream::fixture("fx"))
            .upstream(Upstream::command("needed", missing, &[]).setting("required: true")),
    )
    .await;
    gw.wait_status("first attempts", |st| {
        upstream_in(st, "needed")["state"] == "failed" && upstream_in(st, "fx")["state"] == "ready"
    })
    .await;
    let r = gw.client.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(
        // `failed`, or `starting` if a retry is under way at that moment.
        body.starts_with("required upstream needed is "),
        "{body}"
    );
    // Not ready is not down: the healthy upstream still serves.
    let s = gw.initialize().await;
    let r = s.call_tool("fx__echo", r#"{"message":"served"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "served", "{}", r.text);
}

/// CPU seconds a process used so far (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based over the whole line).
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[tokio::test]
async fn a_crash_looping_upstream_is_restarted_with_backoff_not_in_a_busy_loop() {
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .upstream(Upstream::command("loop", "sh", &["-c", "exit 3"]))
        .start()
        .await;
    let cpu_before = cpu_seconds(gw.pid());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let st = gw.status().await;
    let restarts = upstream_in(&st, "loop")["restarts"].as_u64().unwrap();
    // 0.5 s doubling, jittered to between half and all of each delay: 2 to 6 restarts in 4 s
    // (fewer only on a machine too loaded to start `sh`); a busy loop would show hundreds.
    assert!(
        (2..=8).contains(&restarts),
        "{restarts} restarts in 4 s: {st}"
    );
    let used = cpu_seconds(gw.pid()) - cpu_before;
    assert!(used < 0.5, "the gateway used {used} s of CPU in 4 s");
    // The other upstream serves throughout.
    let s = gw.initialize().await;
    let r = s.call_tool("fx__echo", r#"{"message":"fine"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "fine", "{}", r.text);
}

/// A Streamable HTTP MCP server that initializes and lists one tool, then answers every
/// `tools/call` with HTTP 500. A fault injector, not an MCP implementation: no real server can
/// be made to fail this way on demand offline. Returns its URL and the count of calls it got.
async fn failing_http_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let calls = counted.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // One request: head, then a Content-Length body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Value = serde_json::from_slice(&buf[head_end..head_end + len])
                        .unwrap_or(Value::Null);
                    buf.drain(..head_end + len);
                    let id = body["id"].clone();
                    let (status, json) = match body["method"].as_str() {
                        _ if !head.starts_with("post") => ("405 Method Not Allowed", String::new()),
                        Some("initialize") => (
                            "200 OK",
                            serde_json::json!({"jsonrpc":"2.0","id":id,"result":{
                            "protocolVersion":"2025-06-18","capabilities":{"tools":{}},
                            "serverInfo":{"name":"fails","version":"1"}}})
                            .to_string(),
                        ),
                        Some("tools/list") => (
                            "200 OK",
                            serde_json::json!({"jsonrpc":"2.0","id":id,"result":{
                            "tools":[{"name":"echo","inputSchema":{"type":"object"}}]}})
                            .to_string(),
                        ),
                        Some("tools/call") => {
                            calls.fetch_add(1, Ordering::SeqCst);
                            ("500 Internal Server Error", "boom".to_owned())
                        }
                        _ if id.is_null() => ("202 Accepted", String::new()),
                        _ => (
                            "200 OK",
                            serde_json::json!({"jsonrpc":"2.0","id":id,"result":{}}).to_string(),
                        ),
                    };
                    let ctype = if status.starts_with("200") {
                        "application/json"
                    } else {
                        "text/plain"
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\r\n{json}",
                        json.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, calls)
}

#[tokio::test]
async fn an_http_upstream_answering_500_opens_its_breaker() {
    let (url, calls) = failing_http_upstream().await;
    let gw = Config::new()
        .upstream(
            Upstream::http("web", &url)
                .setting("era: legacy")
                .setting("breaker: { consecutive_failures: 3, open_for: 60s }"),
        )
        .start()
        .await;
    ready(&gw, 1).await;
    let s = gw.initialize().await;
    for _ in 0..3 {
        let r = s.call_tool("web__echo", "{}").await;
        let e = r.error();
        assert_eq!(e["code"], -31001, "{e}");
        assert!(e["message"].as_str().unwrap().contains("500"), "{e}");
        // Made by the gateway's HTTP transport, so it carries the gateway's category.
        assert_eq!(e["data"]["category"], "upstream_unavailable", "{e}");
    }
    let e = s.call_tool("web__echo", "{}").await.error();
    assert_eq!(e["code"], CIRCUIT_OPEN, "{e}");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "the open breaker sent nothing"
    );
}

#[tokio::test]
async fn an_unknown_name_under_a_group_prefix_answers_at_once() {
    let (c, _, _) = group_config("failover");
    let gw = c.start().await;
    let s = gw.initialize().await;
    let t = Instant::now();
    let r = s.call_tool("pool__no_such_tool", "{}").await;
    assert_eq!(r.error()["code"], -32602, "{}", r.text);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}
