//! Outbound safety through the real binary: SSRF strict mode refuses upstream addresses in
//! private space (by name, by literal, by IPv4-mapped IPv6 literal, by odd IPv4 spelling) with a
//! reason in `/status` and the log naming the address and the rule; the opt-ins
//! (`allow_private_upstreams`, an upstream's `outbound.allow`) let them through; cloud-metadata
//! addresses and names are refused even then, and `check` flags them; an upstream's
//! `credentials` reach it, and nothing of the caller's does, and the secret shows nowhere else;
//! except where an upstream asks for the caller's token: exchanged (RFC 8693) at its token
//! endpoint, or passed through.

mod support;

use std::sync::{Arc, Mutex};

use serde_json::Value;
use support::{Config, Gateway, Upstream, run_gateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn upstream_in<'a>(st: &'a Value, name: &str) -> &'a Value {
    st["upstreams"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["name"] == name))
        .unwrap_or_else(|| panic!("no upstream {name} in {st}"))
}

/// Waits until every named upstream has failed, and returns their errors.
async fn failed(gw: &Gateway, names: &[&str]) -> Vec<String> {
    let st = gw
        .wait_status("the upstreams to fail", |st| {
            names
                .iter()
                .all(|n| upstream_in(st, n)["state"] == "failed")
        })
        .await;
    names
        .iter()
        .map(|n| {
            upstream_in(&st, n)["error"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn cloud_metadata_is_refused_even_with_allow_private_upstreams() {
    let ups = [
        (
            "imds",
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
        ),
        ("imds6", "http://[fd00:ec2::254]/", "fd00:ec2::254"),
        (
            "mapped",
            "http://[::ffff:169.254.169.254]/",
            "169.254.169.254",
        ),
        ("hex", "http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254"),
        ("alibaba", "http://100.100.100.200/", "100.100.100.200"),
        (
            "ecs",
            "http://169.254.170.2/v2/credentials",
            "169.254.170.2",
        ),
        (
            "gce",
            "http://metadata.google.internal/computeMetadata/v1/",
            "metadata.google.internal",
        ),
    ];
    let mut config = Config::new().extra("allow_private_upstreams: true");
    for (name, url, _) in ups {
        config = config.upstream(Upstream::http(name, url));
    }
    config = config.upstream(
        Upstream::http("sse_imds", "http://169.254.169.254/sse")
            .setting("outbound: { allow: [169.254.0.0/16] }"),
    );
    let gw = config.start().await;
    let names: Vec<&str> = ups.iter().map(|u| u.0).collect();
    let errors = failed(&gw, &names).await;
    for ((name, _, addr), err) in ups.iter().zip(&errors) {
        assert!(err.contains(addr), "{name}: {err}");
        assert!(
            err.contains("cloud-metadata") && err.contains("refused"),
            "{name}: {err}"
        );
    }
    let allowed_net = failed(&gw, &["sse_imds"]).await;
    assert!(allowed_net[0].contains("cloud-metadata"), "{allowed_net:?}");
    let log = gw.stderr();
    assert!(
        log.contains("169.254.169.254") && log.contains("cloud-metadata"),
        "the refusal is logged: {log}"
    );

    // `check` flags the same URLs before anything runs, and exits 1.
    let (status, out, err) = run_gateway(
        &[
            "check",
            "--config",
            &gw.config.path("switchboard.yaml").display().to_string(),
        ],
        support::PATIENCE,
    );
    assert_eq!(status.code(), Some(1), "{out}{err}");
    assert_eq!(out.matches("refused:").count(), ups.len() + 1, "{out}");
    assert!(out.contains("outbound: direct"), "{out}");
}

#[tokio::test]
async fn strict_mode_refuses_loopback_by_name_and_literal_and_the_opt_ins_allow_it() {
    let inner = Config::new()
        .upstream(Upstream::fixture("fx"))
        .start()
        .await;
    let port = inner.addr.port();
    let ups = [
        ("byname", format!("http://localhost:{port}/mcp")),
        ("mapped", format!("http://[::ffff:127.0.0.1]:{port}/mcp")),
        ("decimal", format!("http://2130706433:{port}/mcp")),
        ("octal", format!("http://017700000001:{port}/mcp")),
        ("sse", format!("http://localhost:{port}/sse")),
    ];
    let mut config = Config::new().extra("allow_private_upstreams: false");
    for (name, url) in &ups {
        let up = if *name == "sse" {
            Upstream::command(name, "", &[]).setting(&format!("sse: {{ url: \"{url}\" }}"))
        } else {
            Upstream::http(name, url)
        };
        config = config.upstream(up);
    }
    let strict = config.start().await;
    let names: Vec<&str> = ups.iter().map(|u| u.0).collect();
    for ((name, _), err) in ups.iter().zip(failed(&strict, &names).await) {
        assert!(
            err.contains("loopback") && (err.contains("127.0.0.1") || err.contains("::1")),
            "{name}: {err}"
        );
        assert!(err.contains("allow_private_upstreams"), "{name}: {err}");
    }
    assert_eq!(
        inner.status().await["upstreams"][0]["calls"],
        0,
        "nothing reached the upstream"
    );

    // An upstream's own `outbound.allow` lets it (and only it) through.
    let per_upstream = Config::new()
        .extra("allow_private_upstreams: false")
        .upstream(
            Upstream::http("byname", &ups[0].1)
                .setting("outbound: { allow: [127.0.0.0/8, '::1'] }")
                .setting("era: legacy"),
        )
        .upstream(Upstream::http("other", &ups[2].1))
        .start()
        .await;
    let s = per_upstream.initialize().await;
    let r = s.call_tool("byname__fx__echo", r#"{"message":"hi"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "hi", "{}", r.text);
    failed(&per_upstream, &["other"]).await;

    // The gateway-wide opt-in lets every one of them through.
    let open = Config::new()
        .extra("allow_private_upstreams: true")
        .upstream(Upstream::http("mapped", &ups[2].1))
        .start()
        .await;
    let s = open.initialize().await;
    let r = s.call_tool("mapped__fx__echo", r#"{"message":"in"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "in", "{}", r.text);
}

/// A recording Streamable HTTP upstream: every request's head is kept, and it answers
/// `initialize`, `tools/list` (one tool, `whoami`) and `tools/call` with plain JSON. A stand-in:
/// the test must see the exact headers on the wire, which no real MCP server reports.
async fn recording_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
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
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let lower = head.to_lowercase();
                    let len = lower
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
                    seen.lock().unwrap().push(head);
                    let id = body["id"].clone();
                    let (status, json) = match body["method"].as_str() {
                        _ if !lower.starts_with("post") => {
                            ("405 Method Not Allowed", String::new())
                        }
                        Some("initialize") => (
                            "200 OK",
                            serde_json::json!({"jsonrpc":"2.0","id":id,"result":{
                            "protocolVersion":"2025-06-18","capabilities":{"tools":{}},
                            "serverInfo":{"name":"rec","version":"1"}}})
                            .to_string(),
                        ),
                        Some("tools/list") => (
                            "200 OK",
                            serde_json::json!({"jsonrpc":"2.0","id":id,"result":{
                            "tools":[{"name":"whoami","inputSchema":{"type":"object"}}]}})
                            .to_string(),
                        ),
                        Some("tools/call") => (
                            "200 OK",
                            serde_json::json!({"jsonrpc":"2.0","id":id,"result":{
                            "content":[{"type":"text","text":"done"}]}})
                            .to_string(),
                        ),
                        _ if id.is_null() => ("202 Accepted", String::new()),
                        _ => (
                            "200 OK",
                            serde_json::json!({"jsonrpc":"2.0","id":id,"result":{}}).to_string(),
                        ),
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
                        json.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, heads)
}

#[tokio::test]
async fn an_upstream_gets_its_credentials_and_nothing_of_the_callers() {
    const SECRET: &str = "upstream-s3cret-7f2a9c";
    let (client_key, entry) = support::create_key("caller", "mcp.invoke");
    let (bearer_url, bearer_heads) = recording_upstream().await;
    let (basic_url, basic_heads) = recording_upstream().await;
    let gw = Config::new()
        .extra(&format!(
            "auth:\n  anonymous: false\n  api_keys:\n    {entry}\n"
        ))
        .upstream(
            Upstream::http("bearer", &bearer_url)
                .setting(&format!("credentials: {{ bearer: \"{SECRET}\" }}"))
                .setting("era: legacy"),
        )
        .upstream(
            Upstream::http("basic", &basic_url)
                .setting(&format!(
                    "credentials: {{ basic: {{ username: bot, password: \"{SECRET}\" }} }}"
                ))
                .setting("era: legacy"),
        )
        .start()
        .await;
    let auth = format!("Bearer {client_key}");
    let s = gw
        .try_initialize(&[("authorization", &auth), ("x-api-key", &client_key)])
        .await
        .unwrap_or_else(|r| panic!("refused: {} {}", r.status, r.text));
    for tool in ["bearer__whoami", "basic__whoami"] {
        let r = s.call_tool(tool, "{}").await;
        assert_eq!(r.result()["content"][0]["text"], "done", "{}", r.text);
    }

    let basic_value = format!(
        "authorization: basic {}",
        base64_of(&format!("bot:{SECRET}")).to_lowercase()
    );
    for (heads, want) in [
        (&bearer_heads, format!("authorization: bearer {SECRET}")),
        (&basic_heads, basic_value),
    ] {
        let heads = heads.lock().unwrap().clone();
        assert!(heads.len() >= 3, "initialize, list, call: {heads:?}");
        for h in &heads {
            let lower = h.to_lowercase();
            assert_eq!(
                lower.matches("authorization:").count(),
                1,
                "exactly one Authorization header: {h}"
            );
            assert!(lower.contains(&want.to_lowercase()), "{h}");
            assert!(
                !h.contains(&client_key),
                "the caller's key reached the upstream: {h}"
            );
            assert!(!lower.contains("x-api-key"), "{h}");
        }
    }

    // The secret is nowhere the gateway shows: /status, the log, `check` output.
    let status = gw.status().await.to_string();
    assert!(!status.contains(SECRET), "{status}");
    let log = gw.stderr();
    assert!(!log.contains(SECRET) && !log.contains(&client_key), "{log}");
    let (_, out, err) = run_gateway(
        &[
            "check",
            "--config",
            &gw.config.path("switchboard.yaml").display().to_string(),
        ],
        support::PATIENCE,
    );
    assert!(!out.contains(SECRET) && !err.contains(SECRET), "{out}{err}");
}

/// Standard base64, for the expected `Basic` header.
fn base64_of(s: &str) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(ABC[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A stand-in OAuth token endpoint (no authorization server runs offline): every request is kept
/// (head and body), and each is answered with a new token `tok-N` that lives `lifetime` seconds.
async fn token_endpoint(lifetime: u64) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
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
                    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
                    buf.drain(..head_end + len);
                    let n = {
                        let mut s = seen.lock().unwrap();
                        s.push(format!("{head}{body}"));
                        s.len()
                    };
                    let json = format!(
                        r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":{lifetime}}}"#
                    );
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
                        json.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, requests)
}

#[tokio::test]
async fn client_credentials_tokens_are_fetched_once_cached_and_refreshed_before_expiry() {
    const SECRET: &str = "cc-s3cret-91b";
    let (token_url, token_requests) = token_endpoint(2).await;
    let (url, heads) = recording_upstream().await;
    let gw = Config::new()
        .upstream(
            Upstream::http("rec", &url)
                .setting(&format!(
                    "credentials: {{ client_credentials: {{ token_url: \"{token_url}\", client_id: gw, client_secret: \"{SECRET}\", scopes: [mcp.read, mcp.write], audience: rec }} }}"
                ))
                .setting("era: legacy"),
        )
        .start()
        .await;
    let s = gw.initialize().await;
    for _ in 0..3 {
        let r = s.call_tool("rec__whoami", "{}").await;
        assert_eq!(r.result()["content"][0]["text"], "done", "{}", r.text);
    }
    {
        let tokens = token_requests.lock().unwrap().clone();
        assert_eq!(
            tokens.len(),
            1,
            "one fetch serves every request: {tokens:?}"
        );
        let t = &tokens[0];
        assert!(t.starts_with("post /oauth/token"), "{t}");
        assert!(t.contains("grant_type=client_credentials"), "{t}");
        assert!(
            t.contains("scope=mcp.read+mcp.write") && t.contains("audience=rec"),
            "{t}"
        );
        let basic = base64_of(&format!("gw:{SECRET}")).to_lowercase();
        assert!(t.contains(&format!("authorization: basic {basic}")), "{t}");
        let seen = heads.lock().unwrap().clone();
        assert!(seen.len() >= 4, "{seen:?}");
        for h in &seen {
            assert!(
                h.to_lowercase().contains("authorization: bearer tok-1"),
                "{h}"
            );
        }
    }

    // The token lives 2 s and is refreshed at half its life: a call after that carries a new one.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let r = s.call_tool("rec__whoami", "{}").await;
    assert_eq!(r.result()["content"][0]["text"], "done", "{}", r.text);
    assert_eq!(token_requests.lock().unwrap().len(), 2);
    let last = heads.lock().unwrap().last().cloned().unwrap_or_default();
    assert!(
        last.to_lowercase().contains("authorization: bearer tok-2"),
        "{last}"
    );

    let shown = format!("{}{}", gw.status().await, gw.stderr());
    assert!(
        !shown.contains(SECRET) && !shown.contains("tok-"),
        "{shown}"
    );
}

/// A stand-in server that answers every request with a redirect to the metadata service: no
/// real MCP server redirects, and the point is what the gateway does with one.
async fn redirecting_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                seen.lock()
                    .unwrap()
                    .push(head.lines().next().unwrap_or_default().to_owned());
                let _ = sock
                    .write_all(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://169.254.169.254/latest/meta-data/iam/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, lines)
}

#[tokio::test]
async fn a_redirect_to_metadata_is_not_followed_and_insecure_tls_is_warned_about() {
    let (port, lines) = redirecting_server().await;
    let gw = Config::new()
        .upstream(Upstream::http(
            "post",
            &format!("http://127.0.0.1:{port}/mcp"),
        ))
        .upstream(
            Upstream::command("old", "", &[])
                .setting(&format!("sse: {{ url: \"http://127.0.0.1:{port}/sse\" }}")),
        )
        .upstream(
            Upstream::http("lax", "https://127.0.0.1:1/mcp")
                .setting("outbound: { tls: { insecure_skip_verify: true } }"),
        )
        .start()
        .await;
    let errors = failed(&gw, &["post", "old"]).await;
    for e in &errors {
        assert!(e.contains("307"), "the redirect is the answer: {e}");
    }
    // Only the two first requests were made: the redirect target was never asked for.
    let seen = lines.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|l| l.starts_with("POST /mcp") || l.starts_with("GET /sse")),
        "{seen:?}"
    );
    let log = gw.stderr();
    assert!(
        log.contains("insecure_skip_verify") && log.contains("lax"),
        "a warning names the upstream: {log}"
    );
}

// ----- the caller's token: exchanged (RFC 8693) or passed through, and only where configured -----

/// A P-256 key the test signs callers' access tokens with; the gateway trusts its public key
/// (`auth.jwt.pem`), so no identity provider has to run.
struct CallerKey(ring::signature::EcdsaKeyPair);

impl CallerKey {
    fn generate() -> CallerKey {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        CallerKey(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng).unwrap(),
        )
    }

    /// The public key as a PEM SubjectPublicKeyInfo.
    fn pem(&self) -> String {
        use ring::signature::KeyPair;
        let mut der = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        der.extend_from_slice(self.0.public_key().as_ref());
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            switchboard_protocol::base64::encode(&der)
        )
    }

    /// An access token for `sub`, valid for an hour.
    fn token(&self, sub: &str) -> String {
        let b64 = |b: &[u8]| switchboard_protocol::base64::encode_url(b);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = serde_json::json!({
            "iss": "https://idp.test", "aud": "https://gw.test/mcp", "sub": sub,
            "exp": now + 3600, "scope": "mcp.tools.read mcp.invoke",
        });
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"ES256","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        );
        let sig = self
            .0
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

/// The `authorization:` values of the recorded heads, lower-cased (one per request; `-` for a
/// request without one).
fn authorizations(heads: &Mutex<Vec<String>>) -> Vec<String> {
    heads
        .lock()
        .unwrap()
        .iter()
        .map(|h| {
            h.to_lowercase()
                .lines()
                .filter_map(|l| l.strip_prefix("authorization:"))
                .map(|v| v.trim().to_owned())
                .collect::<Vec<_>>()
                .join(",")
        })
        .map(|a| if a.is_empty() { "-".to_owned() } else { a })
        .collect()
}

/// The heads of the `tools/call` POSTs (the stand-in keeps heads only; calls come after the
/// handshake and the list, so they are the last `n`).
fn last(v: &[String], n: usize) -> &[String] {
    &v[v.len().saturating_sub(n)..]
}

#[tokio::test]
async fn the_callers_token_is_exchanged_or_passed_through_only_where_configured() {
    const CLIENT_SECRET: &str = "tx-client-s3cret-5e1";
    let key = CallerKey::generate();
    let (alice, bob) = (key.token("alice"), key.token("bob"));
    let (token_url, exchanges) = token_endpoint(3600).await;
    let (tx_url, tx_heads) = recording_upstream().await;
    let (pass_url, pass_heads) = recording_upstream().await;
    let (plain_url, plain_heads) = recording_upstream().await;
    let (api_key, entry) = support::create_key("robot", "mcp.invoke");
    let c = Config::new();
    let pem = c.path("idp.pem");
    std::fs::write(&pem, key.pem()).unwrap();
    let gw = c
        .extra(&format!(
            "auth:\n  api_keys:\n    {entry}\n  jwt: {{ issuer: \"https://idp.test\", audience: \"https://gw.test/mcp\", algorithms: [ES256], pem: {{ file: \"{}\" }} }}\n",
            pem.display()
        ))
        .upstream(
            Upstream::http("tx", &tx_url)
                .setting(&format!(
                    "credentials: {{ token_exchange: {{ token_url: \"{token_url}\", client_id: gw, client_secret: \"{CLIENT_SECRET}\", audience: tx-api, resource: \"https://tx.test/\", scopes: [tx.read] }} }}"
                ))
                .setting("era: legacy"),
        )
        .upstream(
            Upstream::http("pass", &pass_url)
                .setting("credentials: { passthrough: true }")
                .setting("era: legacy"),
        )
        .upstream(Upstream::http("plain", &plain_url).setting("era: legacy"))
        .start()
        .await;

    // Alice calls each upstream twice (`tx` twice at once: concurrent first calls of one caller
    // wait for one exchange), Bob once.
    for (token, times) in [(&alice, 2), (&bob, 1)] {
        let bearer = format!("Bearer {token}");
        let s = gw
            .try_initialize(&[("authorization", &bearer)])
            .await
            .unwrap_or_else(|r| panic!("refused: {} {}", r.status, r.text));
        let calls = (0..times).map(|_| s.call_tool("tx__whoami", "{}"));
        for r in futures::future::join_all(calls).await {
            assert_eq!(r.result()["content"][0]["text"], "done", "tx: {}", r.text);
        }
        for _ in 0..times {
            for tool in ["pass__whoami", "plain__whoami"] {
                let r = s.call_tool(tool, "{}").await;
                assert_eq!(
                    r.result()["content"][0]["text"],
                    "done",
                    "{tool}: {}",
                    r.text
                );
            }
        }
    }

    // One exchange per caller token (Alice's two calls shared one), in RFC 8693's form, with
    // the gateway's client credentials.
    let sent = exchanges.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let basic = base64_of(&format!("gw:{CLIENT_SECRET}")).to_lowercase();
    for (t, subject) in sent.iter().zip([&alice, &bob]) {
        assert!(t.starts_with("post /oauth/token"), "{t}");
        assert!(t.contains(&format!("authorization: basic {basic}")), "{t}");
        for part in [
            "grant_type=urn%3aietf%3aparams%3aoauth%3agrant-type%3atoken-exchange",
            "subject_token_type=urn%3aietf%3aparams%3aoauth%3atoken-type%3aaccess_token",
            "audience=tx-api",
            "resource=https%3a%2f%2ftx.test%2f",
            "scope=tx.read",
        ] {
            assert!(t.to_lowercase().contains(part), "{part} in {t}");
        }
        assert!(t.contains(&format!("subject_token={subject}")), "{t}");
    }

    // On the wire: the exchanged token (never the caller's) at `tx`; the caller's own at
    // `pass`; nothing at `plain`. The gateway's own requests (handshake, lists) carry nothing
    // of any caller.
    let tx = authorizations(&tx_heads);
    assert_eq!(
        last(&tx, 3),
        ["bearer tok-1", "bearer tok-1", "bearer tok-2"]
    );
    let pass = authorizations(&pass_heads);
    let (a, b) = (alice.to_lowercase(), bob.to_lowercase());
    assert_eq!(
        last(&pass, 3),
        [
            format!("bearer {a}"),
            format!("bearer {a}"),
            format!("bearer {b}")
        ]
    );
    let plain = authorizations(&plain_heads);
    assert!(
        plain.len() >= 5 && plain.iter().all(|a| a == "-"),
        "{plain:?}"
    );
    assert!(
        pass[..pass.len() - 3].iter().all(|h| h == "-"),
        "the handshake and lists carry no caller's token: {pass:?}"
    );
    assert!(
        tx.iter().all(|h| !h.contains(&b) && !h.contains(&a)),
        "{tx:?}"
    );

    // An API-key caller has no token to exchange or forward: those upstreams refuse it (and
    // nothing is sent), the others serve it.
    let bearer = format!("Bearer {api_key}");
    let s = gw
        .try_initialize(&[("authorization", &bearer)])
        .await
        .unwrap_or_else(|r| panic!("refused: {} {}", r.status, r.text));
    let before = (
        tx_heads.lock().unwrap().len(),
        pass_heads.lock().unwrap().len(),
    );
    for tool in ["tx__whoami", "pass__whoami"] {
        let r = s.call_tool(tool, "{}").await;
        let e = r.error();
        assert!(
            e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("caller's OAuth access token"),
            "{e}"
        );
    }
    let after = (
        tx_heads.lock().unwrap().len(),
        pass_heads.lock().unwrap().len(),
    );
    assert_eq!(before, after, "nothing was sent for the API-key caller");
    let r = s.call_tool("plain__whoami", "{}").await;
    assert_eq!(r.result()["content"][0]["text"], "done", "{}", r.text);
    assert!(authorizations(&plain_heads).iter().all(|a| a == "-"));

    // No token and no secret anywhere the gateway shows.
    let shown = format!("{}{}", gw.status().await, gw.stderr());
    for secret in [
        &alice[..],
        &bob[..],
        CLIENT_SECRET,
        "tok-1",
        "tok-2",
        &api_key[..],
    ] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
}

/// Passthrough on the other HTTP transports: a legacy REST invoke and a WebSocket session
/// (credential on the upgrade, or in the first message) forward the caller's own token to a
/// `passthrough` upstream, exactly as `POST /mcp` does.
#[tokio::test]
async fn rest_and_websocket_callers_pass_their_token_through_too() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Frame;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    let key = CallerKey::generate();
    let (rest, upgrade, first) = (key.token("rest"), key.token("upgrade"), key.token("first"));
    let (pass_url, pass_heads) = recording_upstream().await;
    let c = Config::new();
    let pem = c.path("idp.pem");
    std::fs::write(&pem, key.pem()).unwrap();
    let gw = c
        .extra(&format!(
            "auth:\n  jwt: {{ issuer: \"https://idp.test\", audience: \"https://gw.test/mcp\", algorithms: [ES256], pem: {{ file: \"{}\" }} }}\n",
            pem.display()
        ))
        .upstream(
            Upstream::http("pass", &pass_url)
                .setting("credentials: { passthrough: true }")
                .setting("era: legacy"),
        )
        .start()
        .await;

    let r = gw
        .client
        .post(gw.url("/v1/mcp/invoke"))
        .header("authorization", format!("Bearer {rest}"))
        .header("content-type", "application/json")
        .body(r#"{"name":"pass__whoami"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    for (token, in_header) in [(&upgrade, true), (&first, false)] {
        let mut req = format!("ws://{}/mcp/ws", gw.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("mcp"));
        let meta = if in_header {
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
            String::new()
        } else {
            format!(r#","_meta":{{"io.github.switchboard-mcp/authorization":"Bearer {token}"}}"#)
        };
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let init = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}{meta}}}}}"#
        );
        for text in [
            init.as_str(),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"pass__whoami","arguments":{}}}"#,
        ] {
            ws.send(Frame::text(text)).await.unwrap();
        }
        let answer = loop {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                .await
                .expect("an answer in time")
                .expect("the socket stays open")
                .unwrap();
            let v: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
            if v["id"] == 2 {
                break v;
            }
        };
        assert_eq!(answer["result"]["content"][0]["text"], "done", "{answer}");
        let _ = ws.close(None).await;
    }

    let pass = authorizations(&pass_heads);
    let want: Vec<String> = [&rest, &upgrade, &first]
        .iter()
        .map(|t| format!("bearer {}", t.to_lowercase()))
        .collect();
    assert_eq!(last(&pass, 3), want.as_slice(), "{pass:?}");
}

/// A stand-in for a hung upstream (nothing real hangs on demand): it accepts connections and
/// reads what is sent, and never answers.
async fn silent_listener() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    url
}

#[tokio::test]
async fn an_upstream_that_never_answers_fails_after_its_read_timeout() {
    let quick = silent_listener().await;
    let started = std::time::Instant::now();
    let gw = Config::new()
        .upstream(
            Upstream::http("quick", &quick)
                .setting("read_timeout: 400ms")
                .setting("timeout: 60s")
                .setting("era: legacy"),
        )
        .start()
        .await;
    let errors = failed(&gw, &["quick"]).await;
    let took = started.elapsed();
    assert!(
        errors[0].contains("read timed out: nothing arrived for 400ms (read_timeout)"),
        "{errors:?}"
    );
    // Well before the 60 s `timeout` (and the 10 s connect timeout): the read timeout did it.
    assert!(took < std::time::Duration::from_secs(8), "{took:?}");
}
