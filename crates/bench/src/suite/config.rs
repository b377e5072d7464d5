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
    write_with(dir, name, upstreams, "")
}

/// The audit section of the "audit on" case: the file sink in `dir`, synced every 100 ms (the
/// setting the budget is stated for).
pub fn audit_file(dir: &Path, name: &str) -> String {
    let path = dir.join(format!("{name}.jsonl"));
    format!(
        "audit:\n  file: {{ path: {}, fsync: 100ms }}\n",
        quote(&path.to_string_lossy())
    )
}

/// [`write`], with `extra` top-level YAML (such as [`audit_file`]) before the upstreams.
pub fn write_with(
    dir: &Path,
    name: &str,
    upstreams: &[(String, Upstream)],
    extra: &str,
) -> anyhow::Result<PathBuf> {
    let mut y = String::from("# Written by switchboard-bench for one benchmark case.\n");
    y.push_str(extra);
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
