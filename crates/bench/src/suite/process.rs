//! The processes a benchmark starts: echo upstreams, gateways, floors, load generators.
//!
//! Every one is a [`Proc`] that is stopped (SIGTERM, then SIGKILL after a grace period) when
//! dropped, so an early return or a failed case never leaves a server behind. Their stderr goes
//! to a log file in the run directory, shown when something fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

/// How long a stopped process gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long a gateway gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the binaries and the scratch files are.
#[derive(Debug, Clone)]
pub struct Layout {
    pub bin_dir: PathBuf,
    pub run_dir: PathBuf,
}

impl Layout {
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    pub fn echo(&self) -> PathBuf {
        self.bin("switchboard-echo")
    }

    pub fn gateway(&self) -> PathBuf {
        self.bin("switchboard")
    }

    /// The bare forwarder measured beside the gateway ([`crate::floor`]).
    pub fn floor(&self) -> PathBuf {
        self.bin("switchboard-floor")
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.run_dir.join("logs").join(format!("{name}.log"))
    }

    /// Opens (truncating) the log file `name`.
    pub fn log_file(&self, name: &str) -> anyhow::Result<std::fs::File> {
        let p = self.log(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))
    }
}

/// A child process that is stopped when dropped.
pub struct Proc {
    child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(layout: &Layout, name: &str, cmd: &mut Command) -> anyhow::Result<Proc> {
        let log = layout.log(name);
        let err = layout.log_file(name)?;
        let child = cmd
            .stdin(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Proc {
            child,
            name: name.to_owned(),
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, wait, SIGKILL.
    pub fn stop(&mut self) {
        if self.exited() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) only sends a signal; `pid` is our own child, not yet reaped (try_wait
            // said it is running), so the id cannot have been reused by another process.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let t0 = Instant::now();
        while t0.elapsed() < STOP_GRACE {
            if self.exited() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last lines of its log, for error messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 20)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Starts `switchboard-echo --http 127.0.0.1:0 EXTRA…` and returns it with its URL.
pub fn start_echo_http(
    layout: &Layout,
    name: &str,
    extra: &[&str],
) -> anyhow::Result<(Proc, String)> {
    let mut cmd = Command::new(layout.echo());
    cmd.args(["--http", "127.0.0.1:0"]).args(extra);
    start_printing_url(layout, name, &mut cmd)
}

/// Starts `switchboard-floor MODE 127.0.0.1:0 --to UPSTREAM` (`--http`: the bare proxy; `--tcp`:
/// the splice) and returns it with the URL to call through it.
pub fn start_floor(
    layout: &Layout,
    name: &str,
    mode: &str,
    upstream: &str,
) -> anyhow::Result<(Proc, String)> {
    let mut cmd = Command::new(layout.floor());
    cmd.args([mode, "127.0.0.1:0", "--to", upstream]);
    start_printing_url(layout, name, &mut cmd)
}

/// Starts a server that prints its `http://…` URL on stdout once it listens, and returns it
/// with that URL.
fn start_printing_url(
    layout: &Layout,
    name: &str,
    cmd: &mut Command,
) -> anyhow::Result<(Proc, String)> {
    cmd.stdout(Stdio::piped());
    let mut p = Proc::spawn(layout, name, cmd)?;
    let out = p
        .child_mut()
        .stdout
        .take()
        .ok_or_else(|| anyhow!("{name}: no stdout"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = BufReader::new(out).read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(line)) if line.starts_with("http://") => Ok((p, line.trim().to_owned())),
        _ => bail!("{name} did not start: {}", p.log_tail()),
    }
}

/// Starts `switchboard serve` with `config` on a free port and waits until `/readyz` is 200.
pub fn start_gateway(layout: &Layout, name: &str, config: &Path) -> anyhow::Result<(Proc, String)> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(layout.gateway());
    cmd.arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--listen", &listen])
        .stdout(Stdio::null());
    let mut p = Proc::spawn(layout, name, &mut cmd)?;
    let addr: SocketAddr = listen.parse()?;
    let t0 = Instant::now();
    loop {
        if p.exited() {
            bail!("{name} exited: {}", p.log_tail());
        }
        if http_status(addr, "/readyz") == Some(200) {
            return Ok((p, format!("http://{listen}/mcp")));
        }
        if t0.elapsed() > READY_TIMEOUT {
            bail!("{name} not ready after {READY_TIMEOUT:?}: {}", p.log_tail());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The status code of `GET path`, or `None` when nothing answers.
pub fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Waits for a child with a time limit, killing it when the limit passes.
pub fn wait_with_limit(
    child: &mut Child,
    limit: Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(st);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
