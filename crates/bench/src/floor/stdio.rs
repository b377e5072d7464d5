//! The stdio floor: a child process whose stdin and stdout are relayed to ours, byte for byte.
//!
//! Two plain OS threads, no runtime: one copies our stdin to the child's stdin, the other (the
//! main thread) the child's stdout to our stdout, each with blocking reads of up to 64 KiB and one
//! whole write of whatever a read returned. Nothing is parsed and lines are not split or joined.
//! At the end of our stdin the child's stdin is closed; when the child's stdout ends (it exited,
//! or closed it) we wait for the child and exit with its status.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, ExitStatus, Stdio};

use anyhow::{Context, bail};

/// Largest single read.
const CHUNK: usize = 64 << 10;

/// Spawns `command`, relays until its output ends, and returns its exit status as ours.
pub fn relay(command: &[String]) -> anyhow::Result<ExitCode> {
    let Some((program, args)) = command.split_first() else {
        bail!("no command to relay to");
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("spawning {program}"))?;
    let (Some(child_in), Some(child_out)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("{program}: no pipes");
    };
    // Our own descriptors 0 and 1 as plain files: no buffering and no locking in between.
    let our_in = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let our_out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    std::thread::Builder::new()
        .name("floor-stdin".into())
        .spawn(move || {
            // Ends at our EOF (or when the child stops reading); dropping `child_in` then closes
            // the child's stdin.
            let _ = pump(our_in, child_in);
        })?;
    if let Err(e) = pump(child_out, our_out) {
        // Our stdout is gone; the child's output has nowhere to go.
        eprintln!("switchboard-floor: writing stdout: {e}");
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for {program}"))?;
    Ok(exit_code(status))
}

/// Copies `from` to `to` until `from` ends: every read written whole, nothing held back.
pub fn pump(mut from: impl Read, mut to: impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// The child's exit code, or 128 + the signal that ended it (as a shell reports it).
fn exit_code(status: ExitStatus) -> ExitCode {
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that records each `write` call.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn pumps_every_byte_one_write_per_read() {
        // No newline at the end: nothing is held back waiting for one.
        let input = b"{\"a\":1}\n{\"b\":".repeat(10_000);
        let mut out = Writes::default();
        let n = pump(&input[..], &mut out).unwrap();
        assert_eq!(n, input.len() as u64);
        assert_eq!(out.0.concat(), input);
        // A slice reads as much as asked for: 64 KiB per read, each written once.
        assert_eq!(out.0.len(), input.len().div_ceil(CHUNK));
    }

    #[test]
    fn exit_codes_are_the_childs() {
        let st = |cmd: &str| Command::new("sh").args(["-c", cmd]).status().unwrap();
        assert_eq!(exit_code(st("exit 0")), ExitCode::SUCCESS);
        assert_eq!(exit_code(st("exit 3")), ExitCode::from(3));
        assert_eq!(exit_code(st("kill -TERM $$")), ExitCode::from(128 + 15));
    }
}
