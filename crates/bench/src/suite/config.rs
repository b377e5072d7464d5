//! Gateway configs for the benchmark cases, written as YAML files in the run directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Enough sessions for the idle-sessions case plus every load run's own.
const MAX_SESSIONS: usize = 50_000;

/// How the gateway reaches one upstream.
#[derive(Debug, Clone)]
pub enum Upstream {
    Http(String),
    Stdio(PathBuf, Vec<String>),
}

/// Writes a config with `upstreams` (name, how) to `dir/name.yaml` and returns its path.
pub fn write(dir: &Path, name: &str, upstreams: &[(String, Upstream)]) -> anyhow::Result<PathBuf> {
    write_with(dir, name, upstreams, &Features::default())
}

/// Settings a case adds to the defaults: top-level YAML, and lines for every upstream.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub top: &'static str,
    pub upstream: &'static [&'static str],
}

/// Every optional feature on the call path off: what the gateway costs bare.
pub const FEATURES_OFF: Features = Features {
    top: "metrics: { enabled: false }\n",
    upstream: &["breaker: { enabled: false }"],
};

/// Every optional feature on the call path on, with limits too high to refuse anything:
/// metrics (on by default), concurrency limits (global and per upstream), per-tool timeouts,
/// the breaker judging failure rates, and the result limit.
pub const FEATURES_ON: Features = Features {
    top: "limits: { max_inflight: 100000 }\n",
    upstream: &[
        "max_concurrency: 100000",
        "tool_timeouts: { echo: 30s }",
        "max_result_bytes: 16777216",
        "breaker: { consecutive_failures: 5, failure_rate: 50%, window: 100 }",
    ],
};

/// [`FEATURES_OFF`] plus the audit log: the file sink beside the config, synced every 100 ms
/// (the setting issue 14's budget is stated for). Its cost per call is the gap to `http-off`.
pub const FEATURES_AUDIT: Features = Features {
    top: "metrics: { enabled: false }\naudit:\n  file: { path: audit-http.jsonl, fsync: 100ms }\n",
    upstream: &["breaker: { enabled: false }"],
};

/// An API key for the authenticated case, made by the gateway binary itself
/// (`switchboard keys create`): the key to send, and the `auth:` block that admits it. The key
/// holds a role whose scopes a `tools/call` needs and whose `allow`/`deny` globs narrow what it
/// sees, so authentication, the scope check and the role policy all run on every call.
pub fn api_key(gateway: &Path) -> anyhow::Result<(String, String)> {
    let out = std::process::Command::new(gateway)
        .args([
            "keys",
            "create",
            "--name",
            "bench",
            "--scopes",
            "mcp.tools.read",
            "--roles",
            "caller",
        ])
        .output()?;
    anyhow::ensure!(out.status.success(), "switchboard keys create failed");
    let key = String::from_utf8(out.stdout)?.trim().to_owned();
    let entry = String::from_utf8(out.stderr)?
        .lines()
        .find(|l| l.trim_start().starts_with("- {"))
        .map(|l| l.trim().to_owned())
        .ok_or_else(|| anyhow::anyhow!("switchboard keys create printed no entry"))?;
    Ok((
        key,
        format!(
            "auth:\n  roles:\n    caller: {{ scopes: [mcp.invoke], allow: [\"up__*\"], deny: [\"up__admin*\"] }}\n  api_keys:\n    {entry}\n"
        ),
    ))
}

/// [`FEATURES_OFF`] plus tracing exported over OTLP/HTTP at 1 % sampling to `endpoint` (the
/// bench's own sink, [`super::otlp_sink`]): issue 14's tracing budget. Leaked once per run.
pub fn features_trace(endpoint: &str) -> Features {
    let top = format!(
        "metrics: {{ enabled: false }}\ntelemetry:\n  otlp: {{ endpoint: {} }}\n  sampling: {{ ratio: 0.01 }}\n",
        quote(endpoint)
    );
    Features {
        top: Box::leak(top.into_boxed_str()),
        upstream: FEATURES_OFF.upstream,
    }
}

/// [`write`], with `features` added.
pub fn write_with(
    dir: &Path,
    name: &str,
    upstreams: &[(String, Upstream)],
    features: &Features,
) -> anyhow::Result<PathBuf> {
    let mut y = String::from("# Written by switchboard-bench for one benchmark case.\n");
    y.push_str(features.top);
    let _ = writeln!(y, "sessions:\n  max_sessions: {MAX_SESSIONS}\nupstreams:");
    for (n, up) in upstreams {
        let _ = writeln!(y, "  {n}:");
        match up {
            Upstream::Http(url) => {
                let _ = writeln!(y, "    http: {{ url: {} }}", quote(url));
            }
            Upstream::Stdio(cmd, args) => {
                let args: Vec<String> = args.iter().map(|a| quote(a)).collect();
                let _ = writeln!(
                    y,
                    "    stdio: {{ command: {}, args: [{}] }}",
                    quote(&cmd.to_string_lossy()),
                    args.join(", ")
                );
            }
        }
        let _ = writeln!(y, "    timeout: 30s");
        for line in features.upstream {
            let _ = writeln!(y, "    {line}");
        }
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, y)?;
    Ok(path)
}

/// A double-quoted YAML scalar (JSON string syntax is valid YAML).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_both_kinds() {
        let dir = std::env::temp_dir().join(format!("sb-bench-config-{}", std::process::id()));
        let p = write(
            &dir,
            "t",
            &[
                ("a".into(), Upstream::Http("http://127.0.0.1:1/mcp".into())),
                (
                    "b".into(),
                    Upstream::Stdio(PathBuf::from("/x/echo"), vec!["--stdio".into()]),
                ),
            ],
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("http: { url: \"http://127.0.0.1:1/mcp\" }"));
        assert!(text.contains("stdio: { command: \"/x/echo\", args: [\"--stdio\"] }"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
