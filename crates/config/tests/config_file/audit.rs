//! The `audit:` section.

use std::path::Path;
use std::time::Duration;

use switchboard_config::{DEFAULT_AUDIT_QUEUE, DEFAULT_AUDIT_ROTATE_BYTES, Fsync, OnFull, load};

use crate::{assert_error_at, ok};

#[test]
fn absent_means_off() {
    assert_eq!(ok("upstreams: {}\n").audit, None);
}

#[test]
fn an_empty_section_is_the_file_sink_with_defaults() {
    let audit = ok("audit: {}\n").audit.expect("audit on");
    let file = audit.file.expect("file sink by default");
    assert!(file.path.is_absolute() && file.path.ends_with("audit.jsonl"));
    assert_eq!(file.rotate_bytes, DEFAULT_AUDIT_ROTATE_BYTES);
    assert_eq!(file.fsync, Fsync::Every(Duration::from_millis(100)));
    assert!(!audit.stdout && !audit.include_arguments && audit.redact.is_empty());
    assert_eq!(audit.on_full, OnFull::Block);
    assert_eq!(audit.queue, DEFAULT_AUDIT_QUEUE);
    assert_eq!(audit.checkpoint, None);
}

#[test]
fn every_key_can_be_given() {
    let audit = ok(r#"
audit:
  file: { path: /var/log/sb/audit.jsonl, rotate_bytes: 64MiB, fsync: always }
  stdout: true
  include_arguments: true
  redact: [password, token]
  on_full: drop_and_count
  queue: 16
  checkpoint: { key: /etc/sb/audit.key, every: 30s }
"#)
    .audit
    .unwrap();
    let file = audit.file.unwrap();
    assert_eq!(file.path, Path::new("/var/log/sb/audit.jsonl"));
    assert_eq!(file.rotate_bytes, 64 << 20);
    assert_eq!(file.fsync, Fsync::Always);
    assert!(audit.stdout && audit.include_arguments);
    assert_eq!(audit.redact, ["password", "token"]);
    assert_eq!(audit.on_full, OnFull::DropAndCount);
    assert_eq!(audit.queue, 16);
    let cp = audit.checkpoint.unwrap();
    assert_eq!(cp.key, Path::new("/etc/sb/audit.key"));
    assert_eq!(cp.every, Duration::from_secs(30));
    assert_eq!(
        ok("audit: { file: { fsync: never }, on_full: refuse_calls }\n")
            .audit
            .unwrap()
            .file
            .unwrap()
            .fsync,
        Fsync::Never
    );
}

#[test]
fn stdout_alone_has_no_file() {
    let audit = ok("audit: { stdout: true }\n").audit.unwrap();
    assert!(audit.stdout && audit.file.is_none());
}

#[test]
fn relative_paths_resolve_against_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.yaml");
    std::fs::write(
        &path,
        "audit: { file: { path: logs/a.jsonl }, checkpoint: { key: k.hex } }\n",
    )
    .unwrap();
    let audit = load(&path, &|_| None).unwrap().audit.unwrap();
    assert_eq!(audit.file.unwrap().path, dir.path().join("logs/a.jsonl"));
    assert_eq!(audit.checkpoint.unwrap().key, dir.path().join("k.hex"));
}

#[test]
fn bad_values_are_located() {
    assert_error_at("audit:\n  bogus: 1\n", 2, 3, &["unknown field `bogus`"]);
    assert_error_at(
        "audit:\n  file: { colour: red }\n",
        2,
        11,
        &["unknown field `colour`"],
    );
    assert_error_at(
        "audit:\n  on_full: panic\n",
        2,
        12,
        &[
            "unknown on_full `panic`",
            "`block`, `drop_and_count`, `refuse_calls`",
        ],
    );
    assert_error_at(
        "audit:\n  file: { fsync: sometimes }\n",
        2,
        18,
        &["`fsync` must be `always`, `never` or an interval"],
    );
    assert_error_at(
        "audit:\n  file: { fsync: 0s }\n",
        2,
        18,
        &["greater than 0"],
    );
    assert_error_at(
        "audit:\n  file: { rotate_bytes: 10 apples }\n",
        2,
        25,
        &["`rotate_bytes`: invalid size"],
    );
    assert_error_at(
        "audit:\n  file: { rotate_bytes: 0 }\n",
        2,
        25,
        &["greater than 0"],
    );
    assert_error_at(
        "audit:\n  queue: 0\n",
        2,
        10,
        &["`queue` must be greater than 0"],
    );
    assert_error_at(
        "audit:\n  stdout: yes\n",
        2,
        11,
        &["`stdout` must be `true` or `false`"],
    );
    assert_error_at(
        "audit:\n  redact: [\"\"]\n",
        2,
        12,
        &["redact field must not be empty"],
    );
    assert_error_at(
        "audit:\n  checkpoint: { every: 1m }\n",
        2,
        17,
        &["missing field `key`"],
    );
}

#[test]
fn the_webhook_sink_takes_its_settings_and_keeps_its_token_secret() {
    let audit = crate::ok_with(
        "audit:\n  webhook: { url: \"https://siem.example.com/ingest\", token: \"${SIEM}\", batch: 50, flush: 250ms, queue: 100, retries: 5, timeout: 3s }\n",
        &crate::env_of(&[("SIEM", "tok-123")]),
    )
    .audit
    .expect("audit on");
    let w = audit.webhook.expect("webhook");
    assert_eq!(w.url, "https://siem.example.com/ingest");
    assert_eq!(w.token.as_deref(), Some("tok-123"));
    assert_eq!((w.batch, w.queue, w.retries), (50, 100, 5));
    assert_eq!(w.flush, Duration::from_millis(250));
    assert_eq!(w.timeout, Duration::from_secs(3));
    assert!(w.dead_letter.is_absolute());
    assert!(
        !format!("{w:?}").contains("tok-123"),
        "Debug redacts the token"
    );
}

#[test]
fn webhook_mistakes_are_located() {
    assert_error_at(
        "audit:\n  webhook: { url: \"ftp://x\" }\n",
        2,
        19,
        &["http"],
    );
    assert_error_at(
        "audit:\n  webhook: { url: \"https://x\", batch: 0 }\n",
        2,
        39,
        &["batch", "greater than 0"],
    );
    assert_error_at(
        "audit:\n  webhook: { url: \"https://x\", token: \"\" }\n",
        2,
        39,
        &["token", "empty"],
    );
}
