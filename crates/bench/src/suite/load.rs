//! Runs `switchboard-load` as a child process and reads its JSON report.
//!
//! The load generator is a separate process (as it would be in real use) with its own runtime,
//! so the suite measures the same binary a person would run by hand.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use super::process::{Layout, Proc, wait_with_limit};
use crate::load::Report;

/// No single load run may take longer than this.
const RUN_LIMIT: Duration = Duration::from_secs(900);

/// A `switchboard-load` invocation being assembled.
#[derive(Debug, Clone)]
pub struct Load {
    pub name: String,
    args: Vec<String>,
    command: Vec<String>,
}

impl Load {
    /// Calls `url` over Streamable HTTP.
    pub fn http(name: &str, url: &str) -> Load {
        Load {
            name: name.to_owned(),
            args: vec!["--http".into(), url.into()],
            command: Vec::new(),
        }
    }

    /// Spawns `command` and calls it over stdio.
    pub fn stdio(name: &str, command: Vec<String>) -> Load {
        Load {
            name: name.to_owned(),
            args: vec!["--stdio".into()],
            command,
        }
    }

    /// Adds `--flag value`.
    pub fn arg(mut self, flag: &str, value: impl ToString) -> Load {
        self.args.push(format!("--{flag}"));
        self.args.push(value.to_string());
        self
    }

    pub fn concurrency(self, c: usize) -> Load {
        self.arg("concurrency", c)
    }

    pub fn calls(self, n: u64) -> Load {
        self.arg("calls", n)
    }

    pub fn warmup(self, n: u64) -> Load {
        self.arg("warmup", n)
    }

    pub fn tool(self, t: &str) -> Load {
        self.arg("tool", t)
    }

    pub fn watch(self, pid: u32) -> Load {
        self.arg("watch-pid", pid)
    }

    fn argv(&self) -> Vec<String> {
        let mut v = self.args.clone();
        if !self.command.is_empty() {
            v.push("--".into());
            v.extend(self.command.iter().cloned());
        }
        v
    }

    /// Starts the run without waiting for it.
    pub fn start(&self, layout: &Layout) -> anyhow::Result<Running> {
        let mut cmd = Command::new(layout.bin("switchboard-load"));
        cmd.args(self.argv()).stdout(Stdio::piped());
        let proc = Proc::spawn(layout, &format!("load-{}", self.name), &mut cmd)?;
        Ok(Running {
            proc,
            name: self.name.clone(),
            log: layout.log(&format!("load-{}", self.name)),
        })
    }

    /// Runs to the end and returns the report; fails if any call failed.
    pub fn run(&self, layout: &Layout) -> anyhow::Result<Report> {
        eprintln!("  · {}", self.name);
        self.start(layout)?.finish()
    }
}

/// A load generator still running.
pub struct Running {
    proc: Proc,
    name: String,
    log: PathBuf,
}

impl Running {
    /// Waits for the report.
    pub fn finish(mut self) -> anyhow::Result<Report> {
        let child = self.proc.child_mut();
        let mut stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let status = wait_with_limit(child, RUN_LIMIT)?;
        let mut out = String::new();
        stdout.read_to_string(&mut out)?;
        let log = super::process::tail(&self.log, 20);
        if !status.success() {
            bail!("load run {} failed ({status}):\n{log}", self.name);
        }
        let line = out.lines().last().unwrap_or("");
        let report: Report = serde_json::from_str(line).with_context(|| {
            format!("load run {}: unreadable report {line:?}\n{log}", self.name)
        })?;
        if report.errors > 0 {
            bail!(
                "load run {}: {} of {} calls failed (first: {})\n{log}",
                self.name,
                report.errors,
                report.calls,
                report.first_error.as_deref().unwrap_or("?")
            );
        }
        Ok(report)
    }
}
