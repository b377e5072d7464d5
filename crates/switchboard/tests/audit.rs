//! The audit log end to end: the real gateway records real calls to the fixture upstream, and
//! the real `switchboard audit verify` checks (and catches tampering with) what it wrote.
//!
//! Argument hashes are checked against `sha256sum` over the test's own canonical form of the
//! arguments (serde_json's sorted map, compact), not against the audit crate's code.

mod support;

use support::create_key;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Config, PATIENCE, Upstream, gateway_command, run_to_completion};

/// A secret in an upstream's environment (API-key shaped): must never reach the log.
const API_KEY: &str = "sk-test-7Hq2Lr9Zx4Vb";
/// A bearer token in an upstream's headers: must never reach the log.
const BEARER: &str = "sbtok-Bearer-5Kd8Wq1Pz";
/// A value sent as a (redacted) argument.
const PASSWORD: &str = "hunter2-Xy81";

fn audit_config(audit_yaml: &str) -> (Config, PathBuf) {
    let c = Config::new();
    let log = c.path("audit.jsonl");
    let c = c
        .upstream(Upstream::fixture("fx").env("FX_API_KEY", API_KEY))
        // Nothing listens on port 1: the upstream is down, its calls fail, its token stays put.
        .upstream(
            Upstream::http("remote", "http://127.0.0.1:1/mcp")
                .header("Authorization", &format!("Bearer {BEARER}")),
        )
        .extra(&format!(
            "audit:\n  file: {{ path: {} , fsync: 100ms }}\n{audit_yaml}",
            support::q(&log.display().to_string())
        ));
    (c, log)
}

/// The records in `path` once there are at least `n` (the writer is asynchronous).
async fn records(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} audit records, have {}:\n{text}",
            lines.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SHA-256 (hex) of `bytes`, by coreutils.
fn sha256sum(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// The canonical form of ASCII-keyed JSON without floats: serde_json's map is sorted.
fn canonical(json: &str) -> String {
    serde_json::to_string(&serde_json::from_str::<Value>(json).unwrap()).unwrap()
}

/// Runs `switchboard audit ARGS…`: (exit code, stdout).
fn audit_cli(args: &[&str]) -> (i32, String) {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    let (status, out, err) = run_to_completion(gateway_command(&all), PATIENCE);
    (status.code().unwrap_or(-1), format!("{out}{err}"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn calls_and_refusals_are_recorded_and_secrets_are_not() {
    let (config, log) = audit_config("");
    let gw = config.start().await;
    let s = gw.initialize().await;

    let args = format!(r#"{{"b":[1,2],"a":"x","password":"{PASSWORD}"}}"#);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let id = s.next_id();
    let ok = s
        .post_with(
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"fx__mirror","arguments":{args}}}}}"#
            ),
            &[("x-request-id", "audit-req-1"), ("traceparent", traceparent)],
        )
        .await;
    assert_eq!(ok.result()["a"], "x", "{}", ok.text);
    // `mirror` answers with its arguments: this one is a tool error.
    s.call_tool("fx__mirror", r#"{"isError":true,"content":[]}"#)
        .await;
    s.call_tool("nope__tool", "{}").await;
    s.call_tool("remote__search", r#"{"q":1}"#).await;
    // A refusal by the idempotency stage.
    let id = s.next_id();
    let refused = s
        .post_with(
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"fx__mirror","arguments":{{}}}}}}"#
            ),
            &[("idempotency-key", "")],
        )
        .await;
    assert!(
        refused.error()["message"]
            .as_str()
            .unwrap()
            .contains("idempotency key")
    );
    // Not audited: an allowed list.
    s.request("tools/list", None).await;

    let recs = records(&log, 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let recs_again = records(&log, 5).await;
    assert_eq!(
        recs_again.len(),
        5,
        "tools/list is not audited: {recs_again:#?}"
    );

    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["v"], 1);
        assert_eq!(r["seq"], i as u64 + 1);
        assert_eq!(r["kind"], "call");
        assert_eq!(r["method"], "tools/call");
        assert_eq!(r["principal"], "anonymous");
        assert_eq!(r["product"], Value::Null);
        assert_eq!(r["http_status"], 200);
        assert!(
            r["client"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{r}"
        );
        assert!(r["time"].as_str().unwrap().ends_with('Z'));
        assert!(r["duration_us"].as_u64().is_some());
        assert_eq!(r["hash"].as_str().unwrap().len(), 64);
    }
    assert_eq!(recs[0]["prev_hash"], "0".repeat(64));
    assert_eq!(recs[1]["prev_hash"], recs[0]["hash"]);

    let first = &recs[0];
    assert_eq!(first["name"], "fx__mirror");
    assert_eq!(first["upstream"], "fx");
    assert_eq!(first["outcome"], "ok");
    assert_eq!(first["verdict"], "allow");
    assert_eq!(first["request_id"], "audit-req-1");
    assert_eq!(first["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(first["args_sha256"], sha256sum(canonical(&args).as_bytes()));
    assert!(
        first.get("arguments").is_none(),
        "arguments only when configured"
    );

    assert_eq!(
        (recs[1]["outcome"].as_str(), recs[1]["upstream"].as_str()),
        (Some("tool_error"), Some("fx"))
    );
    assert_eq!(recs[2]["outcome"], "error");
    assert_eq!(recs[2]["error_code"], -32602);
    assert_eq!(recs[2]["upstream"], Value::Null);
    assert_eq!(recs[3]["upstream"], "remote");
    assert_eq!(recs[3]["error_code"], -31001);
    assert_eq!(recs[3]["verdict"], "allow");
    let deny = &recs[4];
    assert_eq!(deny["verdict"], "deny");
    assert_eq!(deny["outcome"], "error");
    assert!(
        deny["reason"].as_str().unwrap().contains("idempotency key"),
        "{deny}"
    );
    assert_eq!(deny["upstream"], Value::Null, "refused before routing");

    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [API_KEY, BEARER, PASSWORD] {
        assert!(
            !text.contains(secret),
            "{secret} is in the audit log:\n{text}"
        );
    }
    let (code, out) = audit_cli(&["verify", path_str(&log)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: 5 records"), "{out}");

    // The operator's views of the same file.
    let (code, out) = audit_cli(&["tail", "-n", "2", path_str(&log)]);
    assert_eq!(code, 0, "{out}");
    let tail: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!((tail.len(), &tail[1]["seq"]), (2, &Value::from(5)), "{out}");
    let query = |args: &[&str]| {
        let mut all = vec!["query"];
        all.extend_from_slice(args);
        all.push(path_str(&log));
        let (code, out) = audit_cli(&all);
        assert_eq!(code, 0, "{out}");
        out.lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect::<Vec<u64>>()
    };
    assert_eq!(query(&["--verdict", "deny"]), [5]);
    assert_eq!(query(&["--tool", "fx__*"]), [1, 2, 5]);
    assert_eq!(
        query(&["--tool", "remote__search", "--principal", "anonymous"]),
        [4]
    );
    assert_eq!(query(&["--since", "2000-01-01T00:00:00Z"]).len(), 5);
    assert!(query(&["--until", "2000-01-01T00:00:00Z"]).is_empty());
}

#[tokio::test]
async fn arguments_are_written_only_when_asked_and_redacted() {
    let (config, log) = audit_config("  include_arguments: true\n  redact: [password]\n");
    let gw = config.start().await;
    let s = gw.initialize().await;
    let args = format!(
        r#"{{"user":"ada","nested":[{{"password":"{PASSWORD}"}}],"password":"{PASSWORD}"}}"#
    );
    s.call_tool("fx__mirror", &args).await;
    let r = &records(&log, 1).await[0];
    assert_eq!(r["arguments"]["user"], "ada");
    assert_eq!(r["arguments"]["password"], "[redacted]");
    assert_eq!(r["arguments"]["nested"][0]["password"], "[redacted]");
    assert_eq!(
        r["args_sha256"],
        sha256sum(canonical(&args).as_bytes()),
        "hash of what was sent"
    );
    assert!(!std::fs::read_to_string(&log).unwrap().contains(PASSWORD));
}

/// A log of `calls` calls, closed cleanly (SIGTERM), with checkpoints signed by a fresh key;
/// returns the log and the public key.
async fn signed_log(calls: usize) -> (tempfile::TempDir, PathBuf, String) {
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("audit.key");
    let (code, public) = audit_cli(&["keygen", "--out", path_str(&key)]);
    assert_eq!(code, 0, "{public}");
    let public = public.trim().to_owned();
    assert_eq!(public.len(), 64, "{public}");
    let (config, log) = audit_config(&format!(
        "  checkpoint: {{ key: {}, every: 1h }}\n",
        support::q(path_str(&key))
    ));
    let mut gw = config.start().await;
    {
        let s = gw.initialize().await;
        for i in 0..calls {
            s.call_tool("fx__mirror", &format!(r#"{{"i":{i}}}"#)).await;
        }
    }
    records(&log, calls).await;
    assert!(gw.terminate().success(), "{}", gw.stderr());
    let kept = keydir.path().join("audit.jsonl");
    std::fs::copy(&log, &kept).unwrap();
    (keydir, kept, public)
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn verify_catches_tampering_deletion_reordering_and_a_cut_tail() {
    let (dir, log, public) = signed_log(6).await;
    let lines = lines_of(&log);
    assert_eq!(
        lines.len(),
        7,
        "six calls and the checkpoint written at shutdown"
    );
    assert!(lines[6].contains("\"kind\":\"checkpoint\""), "{}", lines[6]);
    let (code, out) = audit_cli(&["verify", "--key", &public, path_str(&log)]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok: 7 records") && out.contains("1 checkpoints checked"),
        "{out}"
    );

    let case = |name: &str, lines: Vec<String>| {
        let p = dir.path().join(name);
        write_lines(&p, &lines);
        p
    };
    // One record edited (its hash no longer matches).
    let mut edited = lines.clone();
    edited[2] = edited[2].replace("\"anonymous\"", "\"mallory\"");
    let p = case("edited.jsonl", edited);
    let (code, out) = audit_cli(&["verify", path_str(&p)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("edited.jsonl:3: record seq 3: its hash does not match"),
        "{out}"
    );

    // One record removed.
    let mut deleted = lines.clone();
    deleted.remove(3);
    let p = case("deleted.jsonl", deleted);
    let (code, out) = audit_cli(&["verify", path_str(&p)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("deleted.jsonl:4: record seq 4 is missing"),
        "{out}"
    );

    // Two records swapped.
    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    let p = case("swapped.jsonl", swapped);
    let (code, out) = audit_cli(&["verify", path_str(&p)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("swapped.jsonl:2: record seq 2 is missing"),
        "{out}"
    );
    assert!(
        out.contains("swapped.jsonl:3: record seq 2 follows seq 3"),
        "{out}"
    );

    // The tail cut off (the checkpoint and the last call): the chain that is left is intact,
    // so only the checkpoint key can tell.
    let p = case("cut.jsonl", lines[..5].to_vec());
    let (code, out) = audit_cli(&["verify", path_str(&p)]);
    assert_eq!(
        code, 0,
        "without a key a cut tail looks like a shorter log: {out}"
    );
    let (code, out) = audit_cli(&["verify", "--key", &public, path_str(&p)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no checkpoint signed by key"), "{out}");

    // A forged checkpoint: right shape, signed by another key.
    let (other_code, other) =
        audit_cli(&["keygen", "--out", path_str(&dir.path().join("other.key"))]);
    assert_eq!(other_code, 0);
    let (code, out) = audit_cli(&["verify", "--key", other.trim(), path_str(&log)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("its signature does not verify"), "{out}");
}

#[tokio::test]
async fn rotation_continues_the_chain_across_files() {
    let (config, log) = audit_config("");
    // Rotation after about three records.
    let config = Config {
        extra: config
            .extra
            .replace("fsync: 100ms", "fsync: always, rotate_bytes: 1500"),
        ..config
    };
    let gw = config.start().await;
    let s = gw.initialize().await;
    for i in 0..12 {
        s.call_tool("fx__mirror", &format!(r#"{{"i":{i}}}"#)).await;
    }
    let dir = log.parent().unwrap().to_owned();
    let deadline = Instant::now() + PATIENCE;
    let files = loop {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("audit.jsonl")
            })
            .collect();
        files.sort();
        let total: usize = files.iter().map(|f| lines_of(f).len()).sum();
        if total >= 12 {
            break files;
        }
        assert!(Instant::now() < deadline, "only {total} records");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(files.len() >= 3, "rotated: {files:?}");
    for f in &files {
        assert!(
            std::fs::metadata(f).unwrap().len() <= 1500,
            "{f:?} is over rotate_bytes"
        );
    }
    // The newest rotated file's last record is what the live file's first links to.
    let rotated: Vec<&PathBuf> = files.iter().filter(|f| **f != log).collect();
    let last_rotated = rotated.iter().max_by_key(|f| {
        f.extension()
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    });
    let tail: Value =
        serde_json::from_str(lines_of(last_rotated.unwrap()).last().unwrap()).unwrap();
    let head: Value = serde_json::from_str(&lines_of(&log)[0]).unwrap();
    assert_eq!(head["prev_hash"], tail["hash"]);
    assert_eq!(
        head["seq"].as_u64().unwrap(),
        tail["seq"].as_u64().unwrap() + 1
    );

    // Files in any order verify as one chain; one missing from the middle does not.
    let mut args: Vec<&str> = vec!["verify"];
    args.extend(files.iter().rev().map(|f| path_str(f)));
    let (code, out) = audit_cli(&args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: 12 records (seq 1 to 12)"), "{out}");
    let without_second: Vec<&str> = std::iter::once("verify")
        .chain(
            files
                .iter()
                .filter(|f| !f.ends_with("audit.jsonl.2"))
                .map(|f| path_str(f)),
        )
        .collect();
    let (code, out) = audit_cli(&without_second);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("are missing") || out.contains("is missing"),
        "{out}"
    );
}

#[tokio::test]
async fn a_sigkilled_gateway_leaves_a_chain_that_verifies_and_continues() {
    let (config, log) = audit_config("");
    let config = Config {
        extra: config.extra.replace("fsync: 100ms", "fsync: never"),
        ..config
    };
    let mut gw = config.start().await;
    // Calls in flight from several clients when the gateway dies.
    let load = {
        let mcp = gw.mcp();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            tasks.push(tokio::spawn(hammer(mcp.clone())));
        }
        tasks
    };
    records(&log, 200).await;
    gw.kill9();
    for t in load {
        let _ = t.await;
    }
    // Whatever the kill left, add what a write cut short looks like: a record without its end.
    let before = std::fs::read(&log).unwrap();
    let mut torn = before.clone();
    torn.extend_from_slice(br#"{"args_sha256":"00","client":"127.0.0.1:1","dur"#);
    std::fs::write(&log, &torn).unwrap();
    let complete = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let cut = (torn.len() - complete) as u64;

    let (code, out) = audit_cli(&["verify", path_str(&log)]);
    assert_eq!(code, 0, "verifies up to the last complete record: {out}");
    assert!(out.contains("the last line is incomplete"), "{out}");
    let last_seq = lines_of(&log)
        .iter()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .and_then(|v| v["seq"].as_u64())
        .unwrap();

    // Restarted on the same log: the torn end is cut off and said so, and the chain goes on.
    let again = Config {
        upstreams: gw.config.upstreams.clone(),
        extra: gw.config.extra.clone(),
        ..Config::new()
    };
    let restarted = again.start().await;
    let s = restarted.initialize().await;
    s.call_tool("fx__mirror", r#"{"after":"restart"}"#).await;
    let recs = records(&log, last_seq as usize + 2).await;
    let recovered = &recs[last_seq as usize];
    assert_eq!(recovered["kind"], "recovered", "{recovered}");
    assert_eq!(recovered["truncated_bytes"], cut);
    assert_eq!(recovered["seq"], last_seq + 1);
    assert_eq!(recs[last_seq as usize + 1]["name"], "fx__mirror");
    let (code, out) = audit_cli(&["verify", path_str(&log)]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("incomplete"), "{out}");
}

/// One client calling `fx__mirror` over and over until the gateway goes away.
async fn hammer(mcp: String) {
    let client = support::client();
    let post = |body: String, session: Option<&str>| {
        let mut rb = client
            .post(&mcp)
            .header("content-type", "application/json")
            .header("accept", support::ACCEPT_BOTH)
            .body(body);
        if let Some(s) = session {
            rb = rb
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", support::PROTOCOL);
        }
        rb.send()
    };
    let Ok(r) = post(support::initialize_body(1), None).await else {
        return;
    };
    let Some(session) = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return;
    };
    let _ = r.text().await;
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned();
    if post(initialized, Some(&session)).await.is_err() {
        return;
    }
    for id in 2u64.. {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"fx__mirror","arguments":{{"n":{id},"pad":"{}"}}}}}}"#,
            "p".repeat(200)
        );
        match post(body, Some(&session)).await {
            Ok(r) => {
                if r.text().await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Every decision the identity, scope, rate and idempotency stages make is recorded with the
/// principal it was made for, a replay is told apart from a call that reached the upstream, and
/// no key appears in the log.
#[tokio::test]
async fn identity_scope_rate_and_replay_decisions_are_recorded() {
    let (reader, reader_entry) = create_key("reader", "mcp.tools.read");
    let (caller, caller_entry) = create_key("caller", "mcp.tools.read,mcp.invoke");
    let c = Config::new();
    let log = c.path("audit.jsonl");
    let gw = c
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "auth:\n  api_keys:\n    {reader_entry}\n    {caller_entry}\n\
             limits:\n  rate: {{ per_tool: 2/h }}\n\
             audit:\n  file: {{ path: {} }}\n",
            support::q(&log.display().to_string())
        ))
        .start()
        .await;

    let bearer = format!("Bearer {caller}");
    let s = gw
        .try_initialize(&[("authorization", &bearer)])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    let call = |id: u64| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"fx__echo","arguments":{{"message":"hi"}}}}}}"#
        )
    };
    let first = s
        .post_with(call(s.next_id()), &[("idempotency-key", "k-1")])
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = s
        .post_with(call(s.next_id()), &[("idempotency-key", "k-1")])
        .await;
    assert_eq!(
        again.header("idempotent-replayed"),
        Some("true"),
        "{}",
        again.text
    );
    // The per-tool rate (2 per hour) counted both: the third is refused.
    let limited = s.post_raw(call(s.next_id())).await;
    assert_eq!(limited.status, 429, "{}", limited.text);

    let bearer = format!("Bearer {reader}");
    let r = gw
        .try_initialize(&[("authorization", &bearer)])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    let scoped = r.call_tool("fx__echo", r#"{"message":"x"}"#).await;
    assert_eq!(scoped.status, 403, "{}", scoped.text);

    // The caller's session with a key that is not a key: refused as unauthenticated.
    let forged = s
        .post_with(
            call(s.next_id()),
            &[("authorization", "Bearer sb_0000000000000000_AAAA")],
        )
        .await;
    assert_eq!(forged.status, 401, "{}", forged.text);

    let recs = records(&log, 5).await;
    let summary: Vec<(String, String, String, Option<i64>)> = recs
        .iter()
        .map(|r| {
            (
                r["principal"].as_str().unwrap_or("-").to_owned(),
                r["verdict"].as_str().unwrap_or("-").to_owned(),
                r["outcome"].as_str().unwrap_or("-").to_owned(),
                r["http_status"].as_i64(),
            )
        })
        .collect();
    let row =
        |p: &str, v: &str, o: &str, st: i64| (p.to_owned(), v.to_owned(), o.to_owned(), Some(st));
    assert_eq!(
        summary,
        vec![
            row("key:caller", "allow", "ok", 200),
            row("key:caller", "allow", "replayed", 200),
            row("key:caller", "deny", "error", 429),
            row("key:reader", "deny", "error", 403),
            row("unauthenticated", "deny", "error", 401),
        ],
        "{recs:#?}"
    );
    assert!(
        recs[2]["reason"].as_str().unwrap().contains("rate limit"),
        "{}",
        recs[2]
    );
    assert!(
        recs[3]["reason"].as_str().unwrap().contains("mcp.invoke"),
        "{}",
        recs[3]
    );
    assert_eq!(
        recs[1]["upstream"],
        Value::Null,
        "a replay reaches no upstream"
    );

    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [&caller, &reader] {
        assert!(!text.contains(secret.as_str()), "a key is in the audit log");
        assert!(
            !gw.stderr().contains(secret.as_str()),
            "a key is in the gateway's log"
        );
    }
    let (code, out) = audit_cli(&["verify", path_str(&log)]);
    assert_eq!(code, 0, "{out}");
}

/// A config reload, applied or refused, is an admin record in the same chain.
#[tokio::test]
async fn config_reloads_are_admin_records_in_the_chain() {
    let (config, log) = audit_config("");
    let gw = config.start().await;
    let s = gw.initialize().await;
    s.call_tool("fx__echo", r#"{"message":"before"}"#).await;

    // Applied: one more upstream.
    let path = gw.config.path("switchboard.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let added = format!(
        "{yaml}  fx2:\n    stdio: {{ command: {}, args: [--name, fx2] }}\n",
        support::q(&support::fixture_bin().display().to_string())
    );
    std::fs::write(&path, &added).unwrap();
    gw.signal("HUP");
    let recs = records(&log, 2).await;
    let reload = &recs[1];
    assert_eq!(reload["kind"], "admin", "{reload}");
    assert_eq!(reload["action"], "config_reload");
    assert_eq!(reload["outcome"], "ok");
    assert_eq!(reload["principal"], "operator");
    assert!(
        reload["detail"].as_str().unwrap().contains("added: fx2"),
        "{reload}"
    );

    // Refused: a file that does not load.
    std::fs::write(&path, format!("{added}  broken: {{}}\n")).unwrap();
    gw.signal("HUP");
    let recs = records(&log, 3).await;
    let refused = &recs[2];
    assert_eq!(
        (refused["action"].as_str(), refused["outcome"].as_str()),
        (Some("config_reload"), Some("error")),
        "{refused}"
    );
    assert!(
        refused["reason"].as_str().unwrap().contains("broken"),
        "{refused}"
    );
    assert_eq!(refused["prev_hash"], recs[1]["hash"]);

    let (code, out) = audit_cli(&["verify", path_str(&log)]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = audit_cli(&["query", "--principal", "operator", path_str(&log)]);
    assert_eq!((code, out.lines().count()), (0, 2), "{out}");
}
