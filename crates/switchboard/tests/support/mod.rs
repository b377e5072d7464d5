//! Shared harness for switchboard's end-to-end tests.
//!
//! Starts the real `switchboard serve` binary on a free loopback port (the gateway binds
//! `127.0.0.1:0` and we read the address it logs), with a temporary config whose upstreams are
//! usually `switchboard-fixture` processes. The gateway is killed when its handle drops (its
//! reaper takes the fixture processes with it).
//!
//! On top of that: a small MCP client over reqwest (initialize → session, post raw messages, read
//! JSON or SSE answers without re-serialising them), an incremental SSE reader for GET streams,
//! and helpers for the fixture's `FIXTURE_LOG` wire log.

#![allow(dead_code)]

pub mod modern;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use serde_json::value::RawValue;

/// The protocol revision these tests speak.
pub const PROTOCOL: &str = "2025-11-25";
/// The Accept header a well-behaved Streamable HTTP client sends on POST.
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";
/// How long to wait for anything that should happen "soon" (generous: CI machines are slow).
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn gateway_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_switchboard"))
}

pub fn fixture_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_switchboard")).with_file_name("switchboard-fixture");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
pub fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

// ----- config -----------------------------------------------------------------------------------

/// One upstream in a test config.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Option<String>,
    /// Extra per-upstream YAML lines (`max_message_bytes: 1000`, `session: isolated`).
    pub settings: Vec<String>,
    /// A Streamable HTTP upstream at this URL instead of a command.
    pub url: Option<String>,
    /// The stdio command's working directory.
    pub cwd: Option<String>,
    /// Headers sent to a Streamable HTTP upstream.
    pub headers: Vec<(String, String)>,
}

impl Upstream {
    /// The fixture, with `--name NAME`.
    pub fn fixture(name: &str) -> Upstream {
        Upstream::command(
            name,
            &fixture_bin().display().to_string(),
            &["--name", name],
        )
    }

    /// Any command.
    pub fn command(name: &str, command: &str, args: &[&str]) -> Upstream {
        Upstream {
            name: name.to_owned(),
            command: command.to_owned(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            timeout: None,
            settings: Vec::new(),
            url: None,
            cwd: None,
            headers: Vec::new(),
        }
    }

    /// A Streamable HTTP upstream (often another gateway's `/mcp`).
    pub fn http(name: &str, url: &str) -> Upstream {
        Upstream {
            url: Some(url.to_owned()),
            ..Upstream::command(name, "", &[])
        }
    }

    /// A group of other upstreams (`group: { members: [...], strategy: ... }`).
    pub fn group(name: &str, members: &[&str], strategy: &str) -> Upstream {
        Upstream::command(name, "", &[]).setting(&format!(
            "group: {{ members: [{}], strategy: {strategy} }}",
            members.join(", ")
        ))
    }

    /// A header sent to a Streamable HTTP upstream (`Authorization: Bearer …`).
    pub fn header(mut self, key: &str, value: &str) -> Upstream {
        self.headers.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Upstream {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// `FIXTURE_LOG`: every line the fixture receives is appended to `path`.
    pub fn log(self, path: &Path) -> Upstream {
        let p = path.display().to_string();
        self.env("FIXTURE_LOG", &p)
    }

    /// Adds a per-upstream setting line, e.g. `max_message_bytes: 1000`.
    pub fn setting(mut self, line: &str) -> Upstream {
        self.settings.push(line.to_owned());
        self
    }

    pub fn cwd(mut self, dir: &str) -> Upstream {
        self.cwd = Some(dir.to_owned());
        self
    }

    pub fn timeout(mut self, t: &str) -> Upstream {
        self.timeout = Some(t.to_owned());
        self
    }

    fn yaml(&self) -> String {
        let mut s = format!("  {}:\n", self.name);
        if let Some(url) = &self.url {
            s += &format!("    http:\n      url: {}\n", q(url));
            if !self.headers.is_empty() {
                s += "      headers:\n";
                for (k, v) in &self.headers {
                    s += &format!("        {}: {}\n", k, q(v));
                }
            }
        } else if self.command.is_empty() {
            // No transport: a group, whose `group:` line comes with the settings.
        } else {
            s += "    stdio:\n";
            s += &format!("      command: {}\n", q(&self.command));
            let args: Vec<String> = self.args.iter().map(|a| q(a)).collect();
            s += &format!("      args: [{}]\n", args.join(", "));
            if let Some(cwd) = &self.cwd {
                s += &format!("      cwd: {}\n", q(cwd));
            }
            if !self.env.is_empty() {
                s += "      env:\n";
                for (k, v) in &self.env {
                    s += &format!("        {}: {}\n", k, q(v));
                }
            }
        }
        if let Some(t) = &self.timeout {
            s += &format!("    timeout: {t}\n");
        }
        for line in &self.settings {
            s += &format!("    {line}\n");
        }
        s
    }
}

/// A test config plus the temporary directory it (and any wire logs) live in.
pub struct Config {
    pub dir: tempfile::TempDir,
    pub upstreams: Vec<Upstream>,
    /// Extra top-level YAML (`http:`, `sessions:` …), written verbatim.
    pub extra: String,
    /// Where the gateway listens (`127.0.0.1:0`, a free port, unless set).
    pub listen: Option<SocketAddr>,
    /// Environment for the gateway process (`SWITCHBOARD_LOG` is `info` unless given here).
    pub env: Vec<(String, String)>,
}

impl Config {
    pub fn new() -> Config {
        Config {
            dir: tempfile::tempdir().expect("tempdir"),
            upstreams: Vec::new(),
            extra: String::new(),
            listen: None,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for the gateway process.
    pub fn gateway_env(mut self, key: &str, value: &str) -> Config {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// A path inside the config's temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn upstream(mut self, u: Upstream) -> Config {
        self.upstreams.push(u);
        self
    }

    /// Listen on `addr` (to start a gateway again where an earlier one was).
    pub fn listen(mut self, addr: SocketAddr) -> Config {
        self.listen = Some(addr);
        self
    }

    pub fn extra(mut self, yaml: &str) -> Config {
        self.extra.push_str(yaml);
        if !yaml.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }

    pub fn yaml(&self) -> String {
        let mut s = self.extra.clone();
        if self.upstreams.is_empty() {
            s += "upstreams: {}\n";
        } else {
            s += "upstreams:\n";
            for u in &self.upstreams {
                s += &u.yaml();
            }
        }
        s
    }

    /// Writes the config file and returns its path.
    pub fn write(&self) -> PathBuf {
        let p = self.path("switchboard.yaml");
        std::fs::write(&p, self.yaml()).expect("write config");
        p
    }

    /// Starts a gateway on this config and waits until `/readyz` answers 200.
    pub async fn start(self) -> Gateway {
        Gateway::start(self).await
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// A config with one fixture upstream `fx` that logs its wire input to `<dir>/fx.log`.
pub fn fx_config() -> (Config, PathBuf) {
    let c = Config::new();
    let log = c.path("fx.log");
    let c = c.upstream(Upstream::fixture("fx").log(&log));
    (c, log)
}

// ----- the gateway process ----------------------------------------------------------------------

/// A running `switchboard serve`. Killed on drop.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stderr: Arc<Mutex<String>>,
    pub config: Config,
}

impl Gateway {
    /// Starts `switchboard serve` and waits until `/readyz` answers 200.
    pub async fn start(config: Config) -> Gateway {
        let mut gw = Gateway::launch(config).await;
        gw.wait_ready().await;
        gw
    }

    /// Starts `switchboard serve` and returns once it listens, ready or not.
    pub async fn launch(config: Config) -> Gateway {
        let path = config.write();
        // Built before the child exists: nothing between spawn and the guard below may panic.
        let client = client();
        let mut child = Command::new(gateway_bin())
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .arg("--listen")
            .arg(
                config
                    .listen
                    .map_or_else(|| "127.0.0.1:0".to_owned(), |a| a.to_string()),
            )
            .env("NO_COLOR", "1")
            .env("SWITCHBOARD_LOG", "info")
            .env_remove("SWITCHBOARD_LISTEN")
            .env_remove("SWITCHBOARD_UPSTREAMS")
            // Tracing is exported only where a test asks for it.
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchboard");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take();
        // From here on the child is killed on drop, even if this function panics.
        let mut gw = Gateway {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            client,
            stderr: stderr.clone(),
            config,
        };
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        let pipe = pipe.expect("piped stderr");
        std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&line);
                if let Some(addr) = listen_addr(&text) {
                    let _ = tx.send(addr);
                }
                stderr.lock().unwrap().push_str(&text);
            }
        });
        match tokio::task::spawn_blocking(move || rx.recv_timeout(PATIENCE)).await {
            Ok(Ok(a)) => gw.addr = a,
            _ => panic!(
                "switchboard did not report its address; exit {:?}; stderr:\n{}",
                gw.child.try_wait(),
                gw.stderr()
            ),
        }
        gw
    }

    /// The gateway process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the gateway process a signal (`HUP`, `TERM`, …).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} failed");
    }

    /// Everything the gateway wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn mcp(&self) -> String {
        self.url("/mcp")
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(r) = self.client.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "switchboard exited early ({st}); stderr:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "/readyz never became 200; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The `/status` document.
    pub async fn status(&self) -> Value {
        let r = self.client.get(self.url("/status")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("/status is not JSON ({e}): {text}"))
    }

    /// A POST to `/mcp` with the headers of a well-behaved client (no session).
    pub fn post(&self) -> reqwest::RequestBuilder {
        self.client
            .post(self.mcp())
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
    }

    /// Posts a body with default headers, `headers` replacing any of the same name.
    pub async fn post_raw(&self, body: impl Into<String>, headers: &[(&str, &str)]) -> Reply {
        let rb = self.post().body(body.into()).headers(header_map(headers));
        Reply::read(rb.send().await.expect("POST /mcp")).await
    }

    /// `initialize` (and `notifications/initialized`): a fresh session.
    pub async fn initialize(&self) -> Session<'_> {
        self.try_initialize(&[]).await.expect("initialize")
    }

    /// `initialize` with extra headers; the reply when it did not produce a session.
    pub async fn try_initialize(&self, headers: &[(&str, &str)]) -> Result<Session<'_>, Reply> {
        let body = initialize_body(1);
        let r = self.post_raw(body, headers).await;
        let Some(id) = r.header("mcp-session-id").map(str::to_owned) else {
            return Err(r);
        };
        assert_eq!(r.status, 200, "initialize: {}", r.text);
        let s = Session {
            gw: self,
            id,
            next: AtomicU64::new(100),
            auth: headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| (*v).to_owned()),
        };
        let n = s
            .post_raw(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        assert_eq!(n.status, 202, "notifications/initialized: {}", n.text);
        Ok(s)
    }

    /// Waits (polling `/status`) until `pred` holds for it.
    pub async fn wait_status(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let st = self.status().await;
            if pred(&st) {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {st}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Gateway {
    /// Kills the gateway with SIGKILL (no shutdown of any kind) and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the gateway with SIGTERM (a graceful shutdown) and waits for it to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "switchboard did not stop on SIGTERM; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Header overrides: `RequestBuilder::headers` replaces same-named headers, where `header` would
/// add a second value.
pub fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("header name");
        map.append(name, HeaderValue::from_str(v).expect("header value"));
    }
    map
}

/// The address in the gateway's "switchboard listening; MCP at http://ADDR/mcp" log line.
fn listen_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split("MCP at http://").nth(1)?;
    rest.split("/mcp").next()?.trim().parse().ok()
}

pub fn client() -> reqwest::Client {
    // reqwest is built with `rustls-no-provider` and panics without a process-wide provider, even
    // for plain http. Installing twice is harmless (the second attempt is refused).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

pub fn initialize_body(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"{PROTOCOL}","capabilities":{{}},"clientInfo":{{"name":"switchboard-tests","version":"0"}}}}}}"#
    )
}

/// Runs the gateway binary with `args` to completion (bounded by `limit`); its exit status and
/// output.
pub fn run_gateway(args: &[&str], limit: Duration) -> (ExitStatus, String, String) {
    let mut cmd = gateway_command(args);
    cmd.env("NO_COLOR", "1");
    run_to_completion(cmd, limit)
}

/// The gateway binary with `args`, untouched by any `SWITCHBOARD_LISTEN` or
/// `SWITCHBOARD_UPSTREAMS` of the environment the tests run in.
pub fn gateway_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(gateway_bin());
    cmd.args(args)
        .env_remove("SWITCHBOARD_LISTEN")
        .env_remove("SWITCHBOARD_UPSTREAMS");
    cmd
}

/// Runs `cmd` with stdin empty to completion (bounded by `limit`); its exit status and output.
pub fn run_to_completion(mut cmd: Command, limit: Duration) -> (ExitStatus, String, String) {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not exit within {limit:?}; stderr:\n{}",
                t_err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, t_out.join().unwrap(), t_err.join().unwrap())
}

// ----- sessions and replies ---------------------------------------------------------------------

/// One MCP session on a gateway.
pub struct Session<'a> {
    pub gw: &'a Gateway,
    pub id: String,
    next: AtomicU64,
    /// The `Authorization` header it was opened with, sent with everything it sends.
    pub auth: Option<String>,
}

impl Session<'_> {
    /// A fresh JSON-RPC id (unique within the session).
    pub fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// A POST carrying this session's headers.
    pub fn post(&self) -> reqwest::RequestBuilder {
        let b = self
            .gw
            .post()
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", PROTOCOL);
        match &self.auth {
            Some(a) => b.header("authorization", a),
            None => b,
        }
    }

    pub async fn post_raw(&self, body: impl Into<String>) -> Reply {
        self.post_with(body, &[]).await
    }

    /// Posts with this session's headers, `headers` replacing any of the same name.
    pub async fn post_with(&self, body: impl Into<String>, headers: &[(&str, &str)]) -> Reply {
        let rb = self.post().body(body.into()).headers(header_map(headers));
        Reply::read(rb.send().await.expect("POST /mcp")).await
    }

    /// Sends request `method` with raw `params` (or none) and reads the whole answer.
    pub async fn request(&self, method: &str, params: Option<&str>) -> Reply {
        let id = self.next_id();
        let body = match params {
            Some(p) => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{p}}}"#),
            None => format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#),
        };
        let r = self.post_raw(body).await;
        if let Some(resp) = r.response() {
            assert_eq!(
                resp.get("id"),
                Some(&Value::from(id)),
                "response to request {id} carries another id: {}",
                r.text
            );
        }
        r
    }

    /// `tools/call` of `name` with raw JSON `arguments`.
    pub async fn call_tool(&self, name: &str, arguments: &str) -> Reply {
        let p = format!(r#"{{"name":{},"arguments":{arguments}}}"#, q(name));
        self.request("tools/call", Some(&p)).await
    }

    /// Opens the standalone GET stream.
    pub async fn get_stream(&self) -> reqwest::Response {
        self.with_auth(
            self.gw
                .client
                .get(self.gw.mcp())
                .header("accept", "text/event-stream"),
        )
        .send()
        .await
        .expect("GET /mcp")
    }

    pub async fn delete(&self) -> reqwest::Response {
        self.with_auth(self.gw.client.delete(self.gw.mcp()))
            .send()
            .await
            .expect("DELETE /mcp")
    }

    /// The session's headers (id, version, and the credential it was opened with).
    fn with_auth(&self, b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let b = b
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", PROTOCOL);
        match &self.auth {
            Some(a) => b.header("authorization", a),
            None => b,
        }
    }
}

/// A complete HTTP answer from the gateway.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body exactly as received.
    pub text: String,
}

impl Reply {
    pub async fn read(r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = tokio::time::timeout(Duration::from_secs(30), r.bytes())
            .await
            .expect("reading the body timed out")
            .expect("reading the body");
        Reply {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).expect("body is UTF-8"),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    pub fn is_sse(&self) -> bool {
        self.content_type().starts_with("text/event-stream")
    }

    /// Every JSON-RPC message in the body, raw: the body itself for JSON, each event's data for
    /// SSE (events with empty data, like the priming event, are skipped).
    pub fn raw_messages(&self) -> Vec<String> {
        if self.is_sse() {
            parse_sse(&self.text)
                .into_iter()
                .filter(|e| !e.data.is_empty())
                .map(|e| e.data)
                .collect()
        } else if self.text.trim().is_empty() {
            Vec::new()
        } else {
            vec![self.text.clone()]
        }
    }

    pub fn messages(&self) -> Vec<Value> {
        self.raw_messages()
            .iter()
            .map(|m| serde_json::from_str(m).unwrap_or_else(|e| panic!("not JSON ({e}): {m:?}")))
            .collect()
    }

    /// The raw text of the JSON-RPC response (the message with `result` or `error`).
    pub fn raw_response(&self) -> Option<String> {
        self.raw_messages().into_iter().find(|m| {
            let v: Value = serde_json::from_str(m).unwrap_or(Value::Null);
            v.get("result").is_some() || v.get("error").is_some()
        })
    }

    pub fn response(&self) -> Option<Value> {
        self.raw_response()
            .map(|m| serde_json::from_str(&m).unwrap())
    }

    /// The response's `error` object; panics (with the body) when there is none.
    pub fn error(&self) -> Value {
        let resp = self
            .response()
            .unwrap_or_else(|| panic!("no JSON-RPC response in {self:?}"));
        resp.get("error")
            .cloned()
            .unwrap_or_else(|| panic!("expected an error, got {}", self.text))
    }

    pub fn error_code(&self) -> i64 {
        self.error()["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("error without integer code: {}", self.text))
    }

    /// The response's `result`; panics (with the body) when there is none.
    pub fn result(&self) -> Value {
        let resp = self
            .response()
            .unwrap_or_else(|| panic!("no JSON-RPC response in {self:?}"));
        resp.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("expected a result, got {}", self.text))
    }

    /// The raw bytes of the response's `result` member, sliced from the body.
    pub fn raw_result(&self) -> String {
        let raw = self.raw_response().expect("a response");
        raw_member(&raw, "result").unwrap_or_else(|| panic!("no result in {raw}"))
    }

    /// The `X-Request-Id` response header.
    pub fn request_id(&self) -> &str {
        self.header("x-request-id")
            .unwrap_or_else(|| panic!("no X-Request-Id header: {self:?}"))
    }

    /// Asserts HTTP `status`, error `code` and `error.data.request_id == X-Request-Id`.
    pub fn assert_error(&self, status: u16, code: i64) -> Value {
        assert_eq!(self.status, status, "HTTP status; body: {}", self.text);
        assert!(
            self.content_type().starts_with("application/json") || self.is_sse(),
            "error body should be JSON, got content-type {:?}",
            self.content_type()
        );
        let err = self.error();
        assert_eq!(err["code"], code, "error code; body: {}", self.text);
        assert!(err["message"].is_string(), "message; body: {}", self.text);
        assert_eq!(
            err["data"]["request_id"].as_str(),
            Some(self.request_id()),
            "error.data.request_id must equal X-Request-Id; body: {}",
            self.text
        );
        err
    }
}

/// One raw member of a JSON object text, as the exact bytes it was written with.
pub fn raw_member(json: &str, key: &str) -> Option<String> {
    let map: std::collections::BTreeMap<String, &RawValue> = serde_json::from_str(json).ok()?;
    map.get(key).map(|r| r.get().to_owned())
}

// ----- SSE --------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Parses a complete SSE text (`\n`, `\r\n` or `\r` line ends).
pub fn parse_sse(text: &str) -> Vec<Event> {
    let mut p = SseParser::default();
    p.feed(text.as_bytes());
    p.finish();
    p.events.into()
}

#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    cur: Event,
    has_data: bool,
    pub events: std::collections::VecDeque<Event>,
}

impl SseParser {
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        loop {
            let Some(pos) = self.buf.iter().position(|&b| b == b'\n' || b == b'\r') else {
                return;
            };
            // A lone `\r` at the end of the buffer may be the first half of `\r\n`.
            if self.buf[pos] == b'\r' && pos + 1 == self.buf.len() {
                return;
            }
            let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
            let skip = if self.buf[pos] == b'\r' && self.buf.get(pos + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            self.buf.drain(..pos + skip);
            self.line(&line);
        }
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            let ev = std::mem::take(&mut self.cur);
            if self.has_data || ev.id.is_some() {
                self.events.push_back(ev);
            }
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.cur.data.push('\n');
                }
                self.cur.data.push_str(value);
                self.has_data = true;
            }
            "id" => self.cur.id = Some(value.to_owned()),
            "event" => self.cur.event = Some(value.to_owned()),
            _ => {}
        }
    }

    pub fn finish(&mut self) {
        if !self.buf.is_empty() {
            let rest = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf.clear();
            self.line(rest.trim_end_matches('\r'));
        }
        self.line("");
    }
}

/// Reads JSON-RPC messages from an open SSE response (a GET stream) as they arrive.
pub struct SseStream {
    resp: reqwest::Response,
    parser: SseParser,
}

impl SseStream {
    pub fn new(resp: reqwest::Response) -> SseStream {
        SseStream {
            resp,
            parser: SseParser::default(),
        }
    }

    /// The next message with non-empty data, or `None` at end of stream or after `limit`.
    pub async fn next_message(&mut self, limit: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(ev) = self.parser.events.pop_front() {
                if !ev.data.is_empty() {
                    return Some(ev.data);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?
                .ok()??;
            self.parser.feed(&chunk);
        }
    }

    /// Reads messages until one satisfies `pred` (bounded by `limit`); returns it and everything
    /// read before it.
    pub async fn wait_for(
        &mut self,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> (String, Vec<String>) {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(m) = self.next_message(left).await else {
                panic!("stream ended or timed out; messages so far: {seen:#?}");
            };
            let v: Value = serde_json::from_str(&m).unwrap_or(Value::Null);
            if pred(&v) {
                return (m, seen);
            }
            seen.push(m);
        }
    }
}

// ----- the fixture's wire log -------------------------------------------------------------------

/// The lines the fixture has received so far (empty if the log does not exist yet).
pub fn log_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => s.lines().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    }
}

/// Polls the wire log until a line satisfies `pred`; returns that line.
pub async fn wait_log(path: &Path, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(l) = log_lines(path).into_iter().find(|l| pred(l)) {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "no matching line in {} within {limit:?}; lines:\n{}",
            path.display(),
            log_lines(path).join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request line from the wire log with its method, id and raw params.
pub struct LoggedRequest {
    pub id: String,
    pub method: String,
    pub params: Option<String>,
}

pub fn parse_logged(line: &str) -> Option<LoggedRequest> {
    let map: std::collections::BTreeMap<String, &RawValue> = serde_json::from_str(line).ok()?;
    Some(LoggedRequest {
        id: map
            .get("id")
            .map(|r| r.get().to_owned())
            .unwrap_or_default(),
        method: serde_json::from_str(map.get("method")?.get()).ok()?,
        params: map.get("params").map(|r| r.get().to_owned()),
    })
}

/// The `tools/call` requests for `tool` (the upstream's own name) on a fixture's wire log
/// (`Upstream::log`): what really reached the upstream.
pub fn tool_calls_on_wire(log: &Path, tool: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["method"] == "tools/call" && m["params"]["name"] == tool)
        .count()
}

/// Upstream `name`'s object in a `/status` document.
pub fn upstream_in<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["upstreams"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == name))
        .unwrap_or_else(|| panic!("no upstream {name} in {status}"))
}

/// A new API key and its `auth.api_keys` entry, from the binary itself (`keys create`); the key
/// is printed once, on stdout only.
#[allow(dead_code)]
pub fn create_key(name: &str, scopes: &str) -> (String, String) {
    create_key_with(name, scopes, &[])
}

/// [`create_key`] with more `keys create` arguments (`--roles`, `--expires`).
#[allow(dead_code)]
pub fn create_key_with(name: &str, scopes: &str, more: &[&str]) -> (String, String) {
    let out = Command::new(gateway_bin())
        .args(["keys", "create", "--name", name, "--scopes", scopes])
        .args(more)
        .output()
        .expect("run switchboard keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let err = String::from_utf8(out.stderr).unwrap();
    let entry = err
        .lines()
        .find(|l| l.trim_start().starts_with("- {"))
        .expect("the entry to paste")
        .trim()
        .to_owned();
    assert!(key.starts_with("sb_"), "{key}");
    assert!(!err.contains(&key), "the key is printed once, on stdout");
    (key, entry)
}

/// A child process (a real Prometheus, say) killed and reaped when the test ends, pass or fail.
#[allow(dead_code)]
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on now (for a process that must be told its port).
#[allow(dead_code)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
