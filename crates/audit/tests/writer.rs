//! The writer end to end, through the public API only: events in, files out, `verify` over them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::Value;
use switchboard_audit::{Audit, AuditError, Event, Verdict, VerifyingKey, generate_key, verify};
use switchboard_config::{AuditConfig, CheckpointConfig, Fsync, OnFull};

fn event(i: usize) -> Event {
    Event {
        time: SystemTime::now(),
        duration: Duration::from_micros(10),
        request_id: Arc::from(format!("r{i}")),
        principal: Arc::from("anonymous"),
        method: "tools/call".into(),
        upstream: Some(Arc::from("fx")),
        params: Some(Bytes::from(format!(
            r#"{{"name":"fx__t","arguments":{{"i":{i}}}}}"#
        ))),
        answer: Some(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        )),
        verdict: Verdict::Allow,
        http_status: None,
        client: None,
        trace_id: None,
        replayed: false,
        product: None,
    }
}

fn config(dir: &Path) -> AuditConfig {
    let mut c = AuditConfig::with_file(dir.join("audit.jsonl"));
    if let Some(f) = &mut c.file {
        f.fsync = Fsync::Always;
    }
    c
}

/// Every file of the log in `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut f: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("audit.jsonl"))
        .collect();
    f.sort();
    f
}

fn records(dir: &Path) -> Vec<Value> {
    let mut all: Vec<Value> = files(dir)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort_by_key(|r| r["seq"].as_u64());
    all
}

async fn write(cfg: &AuditConfig, from: usize, n: usize) {
    let audit = Audit::start(cfg).unwrap();
    for i in from..from + n {
        audit.record(event(i)).await;
    }
    audit.close().await;
}

#[tokio::test]
async fn the_chain_continues_across_rotation_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.file.as_mut().unwrap().rotate_bytes = 2_000;
    write(&cfg, 0, 20).await;
    write(&cfg, 20, 5).await;
    let f = files(dir.path());
    assert!(f.len() > 3, "rotated: {f:?}");
    let report = verify(&f, None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(
        (report.first_seq, report.last_seq, report.records),
        (Some(1), Some(25), 25)
    );
    let ids: Vec<String> = records(dir.path())
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = (0..25).map(|i| format!("r{i}")).collect();
    assert_eq!(ids, want, "every record, in order");
}

#[tokio::test]
async fn a_restart_after_an_empty_live_file_links_to_the_newest_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    write(&cfg, 0, 3).await;
    std::fs::rename(
        dir.path().join("audit.jsonl"),
        dir.path().join("audit.jsonl.1"),
    )
    .unwrap();
    write(&cfg, 3, 2).await;
    let recs = records(dir.path());
    assert_eq!(recs[3]["seq"], 4);
    assert_eq!(recs[3]["prev_hash"], recs[2]["hash"]);
    assert!(verify(&files(dir.path()), None).unwrap().is_ok());
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    write(&cfg, 0, 3).await;
    let log = dir.path().join("audit.jsonl");
    let mut text = std::fs::read(&log).unwrap();
    text.extend_from_slice(br#"{"args_sha256":"ab","cli"#);
    std::fs::write(&log, &text).unwrap();
    let before = verify(std::slice::from_ref(&log), None).unwrap();
    assert!(before.is_ok(), "verifies up to the last complete record");
    assert!(before.notes.iter().any(|n| n.contains("incomplete")));
    write(&cfg, 3, 1).await;
    let recs = records(dir.path());
    assert_eq!(recs[3]["kind"], "recovered");
    assert_eq!(recs[3]["truncated_bytes"], 24);
    assert_eq!(recs[4]["kind"], "call");
    let after = verify(&[log], None).unwrap();
    assert!(after.is_ok() && after.notes.is_empty(), "{after:?}");
}

#[tokio::test]
async fn a_whole_record_that_lost_only_its_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    write(&cfg, 0, 2).await;
    let log = dir.path().join("audit.jsonl");
    let mut text = std::fs::read(&log).unwrap();
    assert_eq!(text.pop(), Some(b'\n'));
    std::fs::write(&log, &text).unwrap();
    write(&cfg, 2, 1).await;
    let recs = records(dir.path());
    assert_eq!(recs.len(), 3, "nothing cut, nothing recovered: {recs:?}");
    assert!(verify(&[log], None).unwrap().is_ok());
}

#[tokio::test]
async fn a_last_line_that_is_not_a_record_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("audit.jsonl"), "hello\n").unwrap();
    match Audit::start(&config(dir.path())) {
        Err(AuditError::Tail { message, .. }) => assert!(message.contains("not JSON"), "{message}"),
        other => panic!("expected a tail error, got {other:?}"),
    }
}

#[tokio::test]
async fn drop_and_count_accounts_for_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.queue = 1;
    cfg.on_full = OnFull::DropAndCount;
    let audit = Audit::start(&cfg).unwrap();
    let sent = 3_000;
    for i in 0..sent {
        assert!(audit.offer(event(i)).is_ok(), "never waits");
    }
    audit.close().await;
    let recs = records(dir.path());
    let calls = recs.iter().filter(|r| r["kind"] == "call").count() as u64;
    let dropped: u64 = recs
        .iter()
        .filter(|r| r["kind"] == "dropped")
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        calls + dropped,
        sent as u64,
        "every record written or counted"
    );
    assert!(dropped > 0, "a queue of 1 under a tight loop drops some");
    assert!(verify(&files(dir.path()), None).unwrap().is_ok());
}

#[tokio::test]
async fn block_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.queue = 1;
    write(&cfg, 0, 500).await;
    let recs = records(dir.path());
    assert_eq!(recs.len(), 500);
    assert!(recs.iter().all(|r| r["kind"] == "call"));
}

#[tokio::test]
async fn checkpoints_sign_the_chain_and_verify_with_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let (seed, public) = generate_key().unwrap();
    let key = dir.path().join("key.hex");
    std::fs::write(&key, format!("{seed}\n")).unwrap();
    let mut cfg = config(dir.path());
    cfg.checkpoint = Some(CheckpointConfig {
        key,
        every: Duration::from_millis(50),
    });
    let audit = Audit::start(&cfg).unwrap();
    audit.record(event(0)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    audit.record(event(1)).await;
    audit.close().await;
    let recs = records(dir.path());
    let kinds: Vec<&str> = recs.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["call", "checkpoint", "call", "checkpoint"],
        "one per interval with records, one at close"
    );
    let vk = VerifyingKey::parse_or_load(&public).unwrap();
    let report = verify(&files(dir.path()), Some(&vk)).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.checkpoints, 2);

    // A log whose last record is not covered by a checkpoint is reported with the key.
    let log = dir.path().join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let cut: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(&log, cut.join("\n") + "\n").unwrap();
    let report = verify(&[log], Some(&vk)).unwrap();
    assert!(!report.is_ok());
    assert!(
        report.problems[0]
            .message
            .contains("not covered by a signature"),
        "{:?}",
        report.problems
    );
    assert_eq!(report.problems[0].line, 3);
}

#[tokio::test]
async fn a_bad_key_file_is_refused_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.hex");
    std::fs::write(&key, "not-a-key-SECRET").unwrap();
    let mut cfg = config(dir.path());
    cfg.checkpoint = Some(CheckpointConfig {
        key,
        every: Duration::from_secs(60),
    });
    let e = Audit::start(&cfg).unwrap_err().to_string();
    assert!(e.contains("64 hex digits") && !e.contains("SECRET"), "{e}");
}
