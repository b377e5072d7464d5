//! Airgap, proven: the gateway runs in a network namespace that has nothing but loopback
//! (`unshare --net`, as root), under `strace -f -e trace=connect`, with a stdio upstream (the
//! fixture), a signed plugin (verified offline against a local trust root) and an `http`
//! upstream on a loopback port where nothing listens. A client inside the same namespace checks
//! `/healthz`, `/readyz`, then `switchboard probe` does `initialize`, `tools/list` and a call.
//! Every `connect(2)` the gateway and its children made must be to loopback or a Unix socket;
//! the loopback `http` upstream makes sure the trace does see the gateway's connects (a trace
//! that recorded nothing would prove nothing).
//!
//! Built-in connectors live on another branch; once merged they belong in this config too.
//! Needs root (for `unshare --net`), `unshare` (util-linux), `strace` and `bash` (its
//! `/dev/tcp` is the in-namespace HTTP client for `/healthz`). When the namespace cannot be
//! made the test says so loudly and passes without checking anything.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{fixture_bin, gateway_bin, q, run_gateway, run_to_completion};

fn available(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skip(why: &str) {
    eprintln!("\n!!!!!!!! SKIPPED airgap test: {why} !!!!!!!!\n");
}

const SCRIPT: &str = r#"
set -u
ip link set lo up || { echo "cannot bring lo up" >&2; exit 90; }
cd "$DIR"
strace -f -e trace=connect -o trace.txt sh -c 'echo $$ > gateway.pid; exec "$0" serve --config switchboard.yaml --listen 127.0.0.1:18080' "$BIN" 2> gateway.log &
strace_pid=$!
get() {
    exec 3<>/dev/tcp/127.0.0.1/18080 || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nConnection: close\r\n\r\n' "$1" >&3
    cat <&3 > "$2"
    exec 3<&-
}
for i in $(seq 1 300); do
    if get /healthz healthz.txt 2>/dev/null && grep -q '200 OK' healthz.txt; then break; fi
    sleep 0.1
done
for i in $(seq 1 300); do
    if get /readyz readyz.txt 2>/dev/null && grep -q '200 OK' readyz.txt; then break; fi
    sleep 0.1
done
"$BIN" probe --timeout 20s --call fx__echo --args '{"message":"airgapped"}' http://127.0.0.1:18080/mcp > probe.txt 2>&1
echo $? > probe.rc
kill -TERM "$(cat gateway.pid)"
wait "$strace_pid"
"#;

#[test]
fn the_gateway_connects_nowhere_but_loopback() {
    if !available("unshare") || !available("strace") || !available("bash") || !available("ip") {
        skip("needs unshare (util-linux), strace, bash and ip (iproute2); install strace with apt");
        return;
    }
    let probe = Command::new("unshare").args(["--net", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skip("`unshare --net` is not permitted here (run as root, or in a privileged container)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A signed plugin: the fixture binary packed with a fresh key, installed with the CLI.
    let src = d.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(fixture_bin(), src.join("server")).unwrap();
    std::fs::write(
        src.join("plugin.yaml"),
        "name: plug\nversion: 1.0.0\ncommand: server\nargs: [--name, plug]\n",
    )
    .unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let (st, out, err) = run_gateway(args, Duration::from_secs(60));
        assert!(st.success(), "{args:?}: {out}{err}");
    };
    run(&["plugin", "keygen", "--out", &s(&d.join("keys"))]);
    run(&[
        "plugin",
        "pack",
        &s(&src),
        "--key",
        &s(&d.join("keys/signing.key")),
        "--out",
        &s(&d.join("plug.tar.gz")),
    ]);
    let config = d.join("switchboard.yaml");
    std::fs::write(
        &config,
        format!(
            "plugins:\n  dir: plugins\n  trust_roots: [keys/trust-root.pem]\nupstreams:\n  fx:\n    stdio: {{ command: {}, args: [--name, fx] }}\n  nowhere:\n    http: {{ url: \"http://127.0.0.1:9/mcp\" }}\n  ops:\n    management: {{}}\n  prom:\n    prometheus: {{ url: \"http://127.0.0.1:9\" }}\n",
            q(&s(&fixture_bin()))
        ),
    )
    .unwrap();
    run(&[
        "plugin",
        "install",
        &s(&d.join("plug.tar.gz")),
        "--config",
        &s(&config),
    ]);

    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "bash", "-c", SCRIPT])
        .env("DIR", d)
        .env("BIN", gateway_bin())
        .env("NO_COLOR", "1")
        .env("SWITCHBOARD_LOG", "info")
        .env_remove("SWITCHBOARD_LISTEN")
        .env_remove("SWITCHBOARD_UPSTREAMS");
    let (st, out, err) = run_to_completion(cmd, Duration::from_secs(120));
    let read = |name: &str| std::fs::read_to_string(d.join(name)).unwrap_or_default();
    let context = format!(
        "script exit {st}\n{out}{err}\n--- gateway.log\n{}\n--- probe.txt\n{}",
        read("gateway.log"),
        read("probe.txt")
    );
    assert!(
        read("healthz.txt").contains("200 OK"),
        "/healthz: {context}"
    );
    assert!(read("readyz.txt").contains("200 OK"), "/readyz: {context}");
    assert_eq!(read("probe.rc").trim(), "0", "probe: {context}");
    let probe = read("probe.txt");
    // Built-ins are served without a process or a socket: the management connector's tools and
    // the prometheus connector's (which reaches its URL only when a tool is called).
    for tool in [
        "fx__echo",
        "plug__echo",
        "ops__list_upstreams",
        "prom__query",
    ] {
        assert!(
            probe.contains(&format!("  {tool}\n")),
            "tools/list lacks {tool}: {context}"
        );
    }
    assert!(probe.contains("airgapped"), "the call's result: {context}");

    let trace = read("trace.txt");
    assert!(
        trace.contains("+++ exited"),
        "strace followed the gateway to its end: {trace}"
    );
    let connects: Vec<&str> = trace.lines().filter(|l| l.contains("connect(")).collect();
    assert!(
        connects
            .iter()
            .any(|l| l.contains("127.0.0.1") && l.contains("htons(9)")),
        "the trace shows the loopback http upstream's connect, so it sees connects at all:\n{trace}"
    );
    let outside: Vec<&&str> = connects
        .iter()
        .filter(|l| {
            !(l.contains("sa_family=AF_UNIX")
                || l.contains("sa_family=AF_UNSPEC")
                || (l.contains("sa_family=AF_INET,") && l.contains("inet_addr(\"127."))
                || (l.contains("sa_family=AF_INET6") && l.contains("\"::1\"")))
        })
        .collect();
    assert!(
        outside.is_empty(),
        "connects beyond loopback:\n{outside:#?}\nfull trace:\n{trace}"
    );
    eprintln!(
        "airgap: {} connect() calls traced, all to loopback or Unix sockets",
        connects.len()
    );
}
