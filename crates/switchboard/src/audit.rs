//! `switchboard audit`: verify, tail, query an audit log, and make a checkpoint key.
//!
//! The checks themselves live in `switchboard-audit` (`verify`, `matches`); this module reads
//! files and prints. `verify` prints every problem in log order (the first is the first broken
//! or missing record, with its `file:line`) and exits 1, or prints one summary line and exits 0.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use switchboard_audit::{Filter, VerifyingKey, matches, read_tail, verify};

use crate::cli::{AuditCommand, AuditKeygenArgs, AuditQueryArgs, AuditTailArgs, AuditVerifyArgs};
use crate::output::{errln, outln};

/// How often `tail -f` looks for new records.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

pub async fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify(a) => run_verify(a),
        AuditCommand::Tail(a) => run_tail(a).await,
        AuditCommand::Query(a) => run_query(a),
        AuditCommand::Keygen(a) => run_keygen(a),
    }
}

fn run_verify(args: AuditVerifyArgs) -> anyhow::Result<ExitCode> {
    let key = match args.key.as_deref().map(VerifyingKey::parse_or_load) {
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            errln!("switchboard audit verify: --key: {e}");
            return Ok(ExitCode::from(2));
        }
        None => None,
    };
    let report = verify(&args.files, key.as_ref()).context("cannot read the audit log")?;
    for note in &report.notes {
        outln!("note: {note}")?;
    }
    for problem in &report.problems {
        outln!("{problem}")?;
    }
    let range = match (report.first_seq, report.last_seq) {
        (Some(a), Some(b)) => format!("seq {a} to {b}"),
        _ => "no records".to_owned(),
    };
    let signed = match &key {
        Some(k) => format!(
            ", {} checkpoints checked with key {}",
            report.checkpoints,
            k.id()
        ),
        None => format!(
            ", {} checkpoints (signatures not checked: no --key)",
            report.checkpoints
        ),
    };
    if report.is_ok() {
        outln!(
            "ok: {} records ({range}) in {} files, chain intact{signed}",
            report.records,
            report.files.len()
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        outln!(
            "FAILED: {} problems in {} records ({range}) in {} files",
            report.problems.len(),
            report.records,
            report.files.len()
        )?;
        Ok(ExitCode::from(1))
    }
}

async fn run_tail(args: AuditTailArgs) -> anyhow::Result<ExitCode> {
    let path = &args.file;
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file.metadata()?;
    let tail = read_tail(&mut file, meta.len(), args.lines)?;
    for line in &tail.lines {
        outln!("{line}")?;
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    // Follow: print complete lines as they are appended; a rotation (a new file at the path)
    // is read from its start.
    let mut pos = meta.len() - tail.torn.len() as u64;
    let mut inode = meta.ino();
    let mut partial = Vec::new();
    loop {
        tokio::time::sleep(FOLLOW_POLL).await;
        let Ok(now) = std::fs::metadata(path) else {
            continue;
        };
        if now.ino() != inode || now.len() < pos {
            // Finish the rotated file first: what was written to it after our last read.
            let mut rest = Vec::new();
            file.seek(SeekFrom::Start(pos))?;
            file.read_to_end(&mut rest)?;
            print_lines(&mut partial, &rest)?;
            file = File::open(path)?;
            inode = now.ino();
            pos = 0;
        }
        if now.len() > pos {
            let mut fresh = Vec::new();
            file.seek(SeekFrom::Start(pos))?;
            file.read_to_end(&mut fresh)?;
            pos += fresh.len() as u64;
            print_lines(&mut partial, &fresh)?;
        }
    }
}

/// Prints the complete lines of `partial` + `fresh`, keeping an unfinished last line.
fn print_lines(partial: &mut Vec<u8>, fresh: &[u8]) -> std::io::Result<()> {
    partial.extend_from_slice(fresh);
    let Some(end) = partial.iter().rposition(|&b| b == b'\n') else {
        return Ok(());
    };
    let rest = partial.split_off(end + 1);
    for line in String::from_utf8_lossy(partial).lines() {
        outln!("{line}")?;
    }
    *partial = rest;
    Ok(())
}

fn run_query(args: AuditQueryArgs) -> anyhow::Result<ExitCode> {
    let filter = Filter {
        principal: args.principal,
        tool: args.tool,
        verdict: args.verdict,
        since: args.since,
        until: args.until,
    };
    for path in &args.files {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        for line in BufReader::new(file).lines() {
            let line = line?;
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if matches(&record, &filter) {
                outln!("{line}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_keygen(args: AuditKeygenArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (seed, public) = switchboard_audit::generate_key().map_err(anyhow::Error::msg)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    file.write_all(format!("{seed}\n").as_bytes())?;
    file.sync_all()?;
    outln!("{public}")?;
    Ok(ExitCode::SUCCESS)
}
