//! Signed plugins with the real binary: the `plugin` commands and their exit codes, a signed
//! plugin loaded as an upstream and called through `/mcp`, every refusal (nothing written,
//! nothing run), the command's hash checked again before every start, and `POST /api/plugins`
//! under concurrent calls to another upstream.
//!
//! The plugin is a small MCP server in Python (standard library only) that records each start
//! in the file its `MARKER` variable names, so "never run" is something the test can see.

mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::{Config, Upstream, q, run_gateway};

const SERVER: &str = r#"#!/usr/bin/env python3
import json, os, sys
marker = os.environ.get("MARKER")
if marker:
    with open(marker, "a") as f:
        f.write("start\n")
TOOLS = [{"name": n, "description": n, "inputSchema": {"type": "object"}} for n in ("hello", "env", "cwd", "crash")]
def reply(i, result=None, error=None):
    m = {"jsonrpc": "2.0", "id": i}
    if error is not None:
        m["error"] = error
    else:
        m["result"] = result
    sys.stdout.write(json.dumps(m) + "\n")
    sys.stdout.flush()
def text(t):
    return {"content": [{"type": "text", "text": t}]}
for line in sys.stdin:
    if not line.strip():
        continue
    m = json.loads(line)
    if "id" not in m or "method" not in m:
        continue
    method, p = m["method"], m.get("params") or {}
    if method == "initialize":
        reply(m["id"], {"protocolVersion": p.get("protocolVersion"), "capabilities": {"tools": {}}, "serverInfo": {"name": "hello", "version": "1.0.0"}})
    elif method == "ping":
        reply(m["id"], {})
    elif method == "tools/list":
        reply(m["id"], {"tools": TOOLS})
    elif method == "tools/call":
        name, args = p.get("name"), p.get("arguments") or {}
        if name == "hello":
            reply(m["id"], text("hello, %s from %s" % (args.get("who", "world"), os.environ.get("GREETING_FROM", "nowhere"))))
        elif name == "env":
            reply(m["id"], text(json.dumps(sorted(os.environ))))
        elif name == "cwd":
            reply(m["id"], text(os.getcwd()))
        elif name == "crash":
            sys.exit(3)
        else:
            reply(m["id"], error={"code": -32602, "message": "unknown tool"})
    else:
        reply(m["id"], error={"code": -32601, "message": "method not found"})
"#;

/// The plugin's script, with its `#!` line naming the real interpreter: the plugin inherits no
/// `PATH`, and a `python3` on this machine's `PATH` may be a shim that needs more environment.
fn server() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 runs the test plugin");
    let python = String::from_utf8(out.stdout).unwrap();
    SERVER.replacen("/usr/bin/env python3", python.trim(), 1)
}

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `switchboard plugin ARGS…`; exit code, stdout, stderr.
fn plugin(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["plugin"];
    all.extend_from_slice(args);
    let (st, out, err) = run_gateway(&all, LIMIT);
    (st.code().unwrap_or(-1), out, err)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Keys, a plugin source directory and its signed bundle, beside a test config.
struct Kit {
    config: Config,
    key: PathBuf,
    bundle: PathBuf,
    plugins: PathBuf,
    marker: PathBuf,
}

impl Kit {
    fn new() -> Kit {
        Kit::with("")
    }

    /// `plugins_extra` is appended inside the `plugins:` block.
    fn with(plugins_extra: &str) -> Kit {
        let config = Config::new();
        let keys = config.path("keys");
        let (code, _, err) = plugin(&["keygen", "--out", s(&keys)]);
        assert_eq!(code, 0, "{err}");
        let src = source(&config.path("src"), "hello", "1.0.0");
        let bundle = config.path("hello.tar.gz");
        let key = keys.join("signing.key");
        let (code, out, err) = plugin(&["pack", s(&src), "--key", s(&key), "--out", s(&bundle)]);
        assert_eq!(code, 0, "{out}{err}");
        let marker = config.path("marker");
        let plugins = config.path("plugins");
        let config = config.extra(&format!(
            "plugins:\n  dir: plugins\n  trust_roots: [keys/trust-root.pem]\n  config:\n    hello: {{ env: {{ GREETING_FROM: plugin-config, MARKER: {} }} }}\n{plugins_extra}",
            q(s(&marker))
        ));
        Kit {
            config,
            key,
            bundle,
            plugins,
            marker,
        }
    }

    fn config_path(&self) -> PathBuf {
        self.config.write()
    }

    fn install(&self, bundle: &Path) -> (i32, String, String) {
        plugin(&["install", s(bundle), "--config", s(&self.config_path())])
    }

    fn starts(&self) -> usize {
        std::fs::read_to_string(&self.marker)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// Every entry of the plugins directory, hidden ones included.
    fn installed(&self) -> Vec<String> {
        std::fs::read_dir(&self.plugins)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A plugin source directory.
fn source(dir: &Path, name: &str, version: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        format!("name: {name}\nversion: {version}\ndescription: test plugin\ncommand: server.py\n"),
    )
    .unwrap();
    std::fs::write(dir.join("server.py"), server()).unwrap();
    std::fs::set_permissions(
        dir.join("server.py"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(dir.join("README"), "a test plugin\n").unwrap();
    dir.to_path_buf()
}

#[test]
fn the_plugin_commands_and_their_exit_codes() {
    let kit = Kit::new();
    let keys = kit.key.parent().unwrap();
    let mode = std::fs::metadata(&kit.key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the signing key is private");
    let root = keys.join("trust-root.pem");
    assert!(
        std::fs::read_to_string(&root)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    // keygen never overwrites.
    assert_eq!(plugin(&["keygen", "--out", s(keys)]).0, 2);

    let (code, out, err) = plugin(&["verify", s(&kit.bundle), "--trust-root", s(&root)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("verified hello 1.0.0"), "{out}");
    let other = kit.config.path("other-keys");
    assert_eq!(plugin(&["keygen", "--out", s(&other)]).0, 0);
    let (code, _, err) = plugin(&[
        "verify",
        s(&kit.bundle),
        "--trust-root",
        s(&other.join("trust-root.pem")),
    ]);
    assert_eq!(code, 1, "another key's trust root refuses it");
    assert!(err.contains("signature does not verify"), "{err}");
    // Usage errors: a missing flag, a missing file, an unknown subcommand, a source without a
    // template.
    assert_eq!(plugin(&["verify", s(&kit.bundle)]).0, 2);
    assert_eq!(
        plugin(&["verify", "/nonexistent.tar.gz", "--trust-root", s(&root)]).0,
        2
    );
    assert_eq!(plugin(&["frobnicate"]).0, 2);
    let empty = kit.config.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out_path = kit.config.path("x.tar.gz");
    let (code, _, err) = plugin(&[
        "pack",
        s(&empty),
        "--key",
        s(&kit.key),
        "--out",
        s(&out_path),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("plugin.yaml"), "{err}");

    let (code, out, err) = kit.install(&kit.bundle);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("installed hello 1.0.0"), "{out}");
    assert_eq!(kit.installed(), ["hello"]);
    let cfg = kit.config_path();
    let (code, out, _) = plugin(&["list", "--config", s(&cfg)]);
    assert_eq!(code, 0);
    assert!(out.starts_with("hello\t1.0.0\tok"), "{out}");
    // `check` shows it in the plan, checked offline.
    let (st, out, err) = run_gateway(&["check", "--config", s(&cfg)], LIMIT);
    assert!(st.success(), "{err}");
    assert!(out.contains("verify on, 1 trust root key(s)"), "{out}");
    assert!(out.contains("  hello            1.0.0  loads"), "{out}");
    assert_eq!(plugin(&["remove", "hello", "--config", s(&cfg)]).0, 0);
    assert!(kit.installed().is_empty());
    let (code, _, err) = plugin(&["remove", "hello", "--config", s(&cfg)]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(plugin(&["remove", "../etc", "--config", s(&cfg)]).0, 2);
    // A config without a plugins block is a usage error.
    let bare = kit.config.path("bare.yaml");
    std::fs::write(&bare, "upstreams: {}\n").unwrap();
    assert_eq!(
        plugin(&["install", s(&kit.bundle), "--config", s(&bare)]).0,
        2
    );
}

/// An archive written entry by entry (paths and links `pack` would never write).
fn raw_bundle(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
    use flate2::write::GzEncoder;
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, kind, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
        h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(0o755);
        h.set_size(data.len() as u64);
        h.set_cksum();
        tar.append(&h, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// The good bundle's entries with `change` applied, written back as an archive.
fn altered(bundle: &Path, change: impl FnOnce(&mut switchboard_plugins::Bundle)) -> Vec<u8> {
    let bytes = std::fs::read(bundle).unwrap();
    let mut b = switchboard_plugins::Bundle::read(&bytes, &Default::default()).unwrap();
    change(&mut b);
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(m) = b.manifest {
        entries.push(("manifest.json".into(), m));
    }
    if let Some(sig) = b.signature {
        entries.push(("manifest.json.sig".into(), sig));
    }
    for (p, f) in b.files {
        entries.push((p, f.data));
    }
    let refs: Vec<(&str, tar::EntryType, &[u8], &str)> = entries
        .iter()
        .map(|(p, d)| (p.as_str(), tar::EntryType::Regular, d.as_slice(), ""))
        .collect();
    raw_bundle(&refs)
}

/// 300 MiB of zeros in one entry (well over the 256 MiB unpacked cap), about 300 KiB packed.
fn bomb() -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1024 * 1024];
    for i in 0..3 {
        let mut h = tar::Header::new_gnu();
        h.set_path(format!("zeros{i}")).unwrap();
        h.set_size(100 * 1024 * 1024);
        h.set_cksum();
        gz.write_all(h.as_bytes()).unwrap();
        for _ in 0..100 {
            gz.write_all(&block).unwrap();
        }
    }
    gz.finish().unwrap()
}

#[test]
fn refused_bundles_are_not_installed_and_say_why() {
    let kit = Kit::new();
    let other = kit.config.path("other-keys");
    assert_eq!(plugin(&["keygen", "--out", s(&other)]).0, 0);
    let src = kit.config.path("src");
    let wrong_key = kit.config.path("wrong-key.tar.gz");
    let (code, _, err) = plugin(&[
        "pack",
        s(&src),
        "--key",
        s(&other.join("signing.key")),
        "--out",
        s(&wrong_key),
    ]);
    assert_eq!(code, 0, "{err}");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "tampered manifest",
            altered(&kit.bundle, |b| {
                let m = String::from_utf8(b.manifest.take().unwrap()).unwrap();
                b.manifest = Some(m.replace("test plugin", "evil plugin").into_bytes());
            }),
            "signature does not verify",
        ),
        (
            "tampered file",
            altered(&kit.bundle, |b| {
                b.files.get_mut("server.py").unwrap().data =
                    b"#!/bin/sh\ntouch /tmp/pwned\n".to_vec();
            }),
            "`server.py` does not match its SHA-256",
        ),
        (
            "wrong key",
            std::fs::read(&wrong_key).unwrap(),
            "signature does not verify",
        ),
        (
            "missing signature",
            altered(&kit.bundle, |b| b.signature = None),
            "not signed",
        ),
        (
            "path traversal",
            raw_bundle(&[("../../evil.sh", tar::EntryType::Regular, b"#!/bin/sh\n", "")]),
            "`..` component",
        ),
        (
            "absolute path",
            raw_bundle(&[("/tmp/evil.sh", tar::EntryType::Regular, b"#!/bin/sh\n", "")]),
            "is absolute",
        ),
        (
            "symlink out of the bundle",
            raw_bundle(&[("link", tar::EntryType::Symlink, b"", "../../../etc/passwd")]),
            "is a link",
        ),
        ("decompression bomb", bomb(), "too large"),
    ];
    for (what, bytes, reason) in cases {
        let path = kit.config.path("bad.tar.gz");
        std::fs::write(&path, &bytes).unwrap();
        let (code, out, err) = kit.install(&path);
        assert_eq!(code, 1, "{what}: {out}{err}");
        assert!(
            err.contains(reason),
            "{what}: expected {reason:?} in: {err}"
        );
        assert!(
            kit.installed().is_empty(),
            "{what}: wrote {:?}",
            kit.installed()
        );
        let _ = std::fs::remove_dir(&kit.plugins);
    }
    assert!(!Path::new("/tmp/evil.sh").exists());
    // An unknown trust root: the config's only trust root file does not exist.
    let cfg = kit.config.path("unknown-root.yaml");
    std::fs::write(
        &cfg,
        "plugins:\n  dir: plugins\n  trust_roots: [keys/nope.pem]\nupstreams: {}\n",
    )
    .unwrap();
    let (code, _, err) = plugin(&["install", s(&kit.bundle), "--config", s(&cfg)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no trust root"), "{err}");
    assert!(kit.installed().is_empty());
    assert_eq!(kit.starts(), 0, "no refused plugin ever ran");
}

fn tool_names(r: &support::Reply) -> Vec<String> {
    r.result()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

fn text_of(r: &support::Reply) -> String {
    r.result()["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {}", r.text))
        .to_owned()
}

fn plugin_state<'a>(st: &'a Value, name: &str) -> &'a Value {
    st["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("plugin {name} not in /status: {st}"))
}

fn upstream_state<'a>(st: &'a Value, name: &str) -> &'a Value {
    st["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("upstream {name} not in /status: {st}"))
}

#[tokio::test]
async fn a_signed_plugin_loads_in_its_own_directory_with_only_its_configured_environment() {
    let kit = Kit::new();
    assert_eq!(kit.install(&kit.bundle).0, 0);
    let Kit {
        config, plugins, ..
    } = kit;
    // The gateway inherits this test's whole environment (PATH, HOME, CARGO_*, …); none of it
    // may reach the plugin.
    let gw = config.upstream(Upstream::fixture("fx")).start().await;
    let st = gw.status().await;
    assert_eq!(plugin_state(&st, "hello")["state"], "loaded", "{st}");
    assert_eq!(plugin_state(&st, "hello")["version"], "1.0.0");
    let s = gw.initialize().await;
    let names = tool_names(&s.request("tools/list", None).await);
    for t in ["hello__hello", "hello__env", "hello__cwd", "fx__echo"] {
        assert!(names.iter().any(|n| n == t), "{t} missing from {names:?}");
    }
    let r = s.call_tool("hello__hello", r#"{"who":"test"}"#).await;
    assert_eq!(text_of(&r), "hello, test from plugin-config");
    let env: Vec<String> =
        serde_json::from_str(&text_of(&s.call_tool("hello__env", "{}").await)).unwrap();
    // Only what plugins.config.hello.env passes (Python may add LC_CTYPE itself, PEP 538).
    let extra: Vec<&String> = env
        .iter()
        .filter(|k| !["GREETING_FROM", "MARKER", "LC_CTYPE"].contains(&k.as_str()))
        .collect();
    assert!(extra.is_empty(), "the plugin inherited {extra:?}");
    let cwd = text_of(&s.call_tool("hello__cwd", "{}").await);
    assert_eq!(
        Path::new(&cwd).canonicalize().unwrap(),
        plugins.join("hello").canonicalize().unwrap()
    );
}

#[tokio::test]
async fn a_plugin_changed_after_install_is_refused_and_blocks_nothing() {
    let kit = Kit::new();
    assert_eq!(kit.install(&kit.bundle).0, 0);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(kit.plugins.join("hello/server.py"))
        .unwrap();
    writeln!(f, "# changed").unwrap();
    let marker = kit.marker.clone();
    let gw = kit.config.upstream(Upstream::fixture("fx")).start().await;
    let st = gw.status().await;
    let p = plugin_state(&st, "hello");
    assert_eq!(p["state"], "refused", "{st}");
    assert!(
        p["reason"]
            .as_str()
            .unwrap()
            .contains("`server.py` does not match its SHA-256"),
        "{p}"
    );
    assert!(
        gw.stderr().contains("plugin refused"),
        "logged with its reason"
    );
    let s = gw.initialize().await;
    let names = tool_names(&s.request("tools/list", None).await);
    assert!(!names.iter().any(|n| n.starts_with("hello__")), "{names:?}");
    let r = s.call_tool("fx__echo", r#"{"message":"still here"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!marker.exists(), "the refused plugin never ran");
}

#[tokio::test]
async fn with_no_trust_root_no_plugin_loads_and_one_line_says_so() {
    let kit = Kit::new();
    assert_eq!(kit.install(&kit.bundle).0, 0);
    std::fs::remove_file(kit.config.path("keys/trust-root.pem")).unwrap();
    let marker = kit.marker.clone();
    let gw = kit.config.upstream(Upstream::fixture("fx")).start().await;
    let st = gw.status().await;
    assert_eq!(plugin_state(&st, "hello")["state"], "refused", "{st}");
    let log = gw.stderr();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("no plugin loads"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("trust-root.pem"),
        "names the missing file: {}",
        lines[0]
    );
    assert!(!log.contains("plugin refused"), "no line per plugin: {log}");
    assert!(!marker.exists());
}

#[tokio::test]
async fn verify_false_loads_an_unsigned_plugin_with_a_warning() {
    let kit = Kit::with("  verify: false\n");
    assert_eq!(kit.install(&kit.bundle).0, 0);
    std::fs::remove_file(kit.plugins.join("hello/manifest.json.sig")).unwrap();
    let gw = kit.config.start().await;
    assert!(
        gw.stderr().contains("plugins.verify: false"),
        "{}",
        gw.stderr()
    );
    let st = gw.status().await;
    assert_eq!(plugin_state(&st, "hello")["state"], "loaded", "{st}");
}

#[tokio::test]
async fn an_executable_swapped_after_start_is_refused_at_the_restart() {
    let kit = Kit::new();
    assert_eq!(kit.install(&kit.bundle).0, 0);
    let exe = kit.plugins.join("hello/server.py");
    let marker = kit.marker.clone();
    let gw = kit.config.start().await;
    let s = gw.initialize().await;
    assert_eq!(
        text_of(&s.call_tool("hello__hello", "{}").await),
        "hello, world from plugin-config"
    );
    let started = std::fs::read_to_string(&marker).unwrap().lines().count();
    // Swap the executable (same behaviour, different bytes), then make the process exit.
    std::fs::write(&exe, format!("{}\n# swapped\n", server())).unwrap();
    let _ = s.call_tool("hello__crash", "{}").await;
    let st = gw
        .wait_status("the plugin to fail its integrity check", |st| {
            upstream_state(st, "hello")["error"]
                .as_str()
                .is_some_and(|e| e.contains("integrity check failed"))
        })
        .await;
    assert_eq!(upstream_state(&st, "hello")["state"], "failed", "{st}");
    // Give the supervisor time for another retry: it is refused again, never started.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().lines().count(),
        started,
        "the swapped file never ran"
    );
    let r = s.call_tool("hello__hello", "{}").await;
    assert!(r.text.contains("error"), "{}", r.text);
}

#[tokio::test]
async fn runtime_install_brings_a_plugin_up_while_other_calls_run_undisturbed() {
    let kit = Kit::with("  runtime_install: true\n");
    let bundle = std::fs::read(&kit.bundle).unwrap();
    let tampered = altered(&kit.bundle, |b| {
        b.files.get_mut("README").unwrap().data = b"changed".to_vec();
    });
    let plugins = kit.plugins.clone();
    let gw = std::sync::Arc::new(kit.config.upstream(Upstream::fixture("fx")).start().await);
    let url = gw.url("/api/plugins");

    // Concurrent calls to another upstream, for the whole install.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut callers = Vec::new();
    for c in 0..4 {
        let gw = gw.clone();
        let stop = stop.clone();
        callers.push(tokio::spawn(async move {
            let s = gw.initialize().await;
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 5 {
                let msg = format!("c{c}-{n}");
                let r = s
                    .call_tool("fx__echo", &format!(r#"{{"message":"{msg}"}}"#))
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                assert!(
                    r.text.contains(&msg) && !r.text.contains("\"error\""),
                    "{}",
                    r.text
                );
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let post = |body: Vec<u8>, ctype: &'static str| {
        let gw = gw.clone();
        let url = url.clone();
        async move {
            let r = gw
                .client
                .post(url)
                .header("content-type", ctype)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let (status, text) = post(tampered, "application/octet-stream").await;
    assert_eq!(status, 422, "{text}");
    assert!(
        text.contains("`README` does not match its SHA-256"),
        "{text}"
    );
    assert!(
        !plugins.join("hello").exists(),
        "nothing of a refused bundle is written"
    );
    let (status, text) = post(bundle.clone(), "application/json").await;
    assert_eq!(status, 415, "{text}");

    let began = std::time::Instant::now();
    let (status, text) = post(bundle, "application/octet-stream").await;
    let took = began.elapsed();
    assert_eq!(status, 201, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["name"], "hello");
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(body["tools"], 4, "{body}");
    assert_eq!(body["state"], "ready", "{body}");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut calls = 0;
    for c in callers {
        calls += c.await.expect("every concurrent call succeeded");
    }
    assert!(calls >= 20, "{calls}");
    eprintln!(
        "runtime install answered 201 in {took:?}; {calls} concurrent calls to fx all succeeded"
    );
    let s = gw.initialize().await;
    assert_eq!(
        text_of(&s.call_tool("hello__hello", r#"{"who":"runtime"}"#).await),
        "hello, runtime from plugin-config"
    );
    let st = gw.status().await;
    assert_eq!(plugin_state(&st, "hello")["state"], "loaded");
    assert_eq!(upstream_state(&st, "fx")["restarts"], 0, "{st}");
}

#[tokio::test]
async fn runtime_install_is_off_by_default_and_needs_an_administrator() {
    let kit = Kit::new();
    let bundle = std::fs::read(&kit.bundle).unwrap();
    let plugins = kit.plugins.clone();
    let gw = kit.config.start().await;
    let r = gw
        .client
        .post(gw.url("/api/plugins"))
        .header("content-type", "application/octet-stream")
        .body(bundle.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("runtime plugin install is off")
    );
    assert!(!plugins.exists());
    drop(gw);

    // On, with an API key that lacks `admin`: refused; with `admin`: installed.
    let key = support::create_key;
    let (user, user_entry) = key("user", "mcp.invoke");
    let (admin, admin_entry) = key("root", "admin");
    let kit = Kit::with("  runtime_install: true\n");
    let bundle = std::fs::read(&kit.bundle).unwrap();
    let gw = kit
        .config
        .extra(&format!(
            "auth:\n  anonymous: false\n  api_keys:\n    {user_entry}\n    {admin_entry}\n"
        ))
        .start()
        .await;
    let send = |auth: Option<String>| {
        let mut rb = gw
            .client
            .post(gw.url("/api/plugins"))
            .header("content-type", "application/octet-stream")
            .body(bundle.clone());
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        rb.send()
    };
    assert_eq!(send(None).await.unwrap().status(), 401);
    let r = send(Some(format!("Bearer {user}"))).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("`admin` scope"));
    let r = send(Some(format!("Bearer {admin}"))).await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn plugins_installed_or_removed_with_the_cli_follow_a_reload() {
    let kit = Kit::new();
    let bundle = kit.bundle.clone();
    let gw = kit.config.upstream(Upstream::fixture("fx")).start().await;
    let cfg = gw.config.path("switchboard.yaml");
    assert_eq!(gw.status().await["plugins"], serde_json::json!([]));
    let (code, _, err) = plugin(&["install", s(&bundle), "--config", s(&cfg)]);
    assert_eq!(code, 0, "{err}");
    gw.signal("HUP");
    gw.wait_status("the plugin to load at the reload", |st| {
        st["upstreams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "hello" && u["state"] == "ready")
    })
    .await;
    let s1 = gw.initialize().await;
    assert_eq!(
        text_of(&s1.call_tool("hello__hello", "{}").await),
        "hello, world from plugin-config"
    );
    let (code, _, err) = plugin(&["remove", "hello", "--config", s(&cfg)]);
    assert_eq!(code, 0, "{err}");
    gw.signal("HUP");
    let st = gw
        .wait_status("the plugin to go at the reload", |st| {
            !st["upstreams"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["name"] == "hello")
        })
        .await;
    assert_eq!(st["plugins"], serde_json::json!([]));
    assert_eq!(
        upstream_state(&st, "fx")["restarts"],
        0,
        "other upstreams untouched"
    );
}
