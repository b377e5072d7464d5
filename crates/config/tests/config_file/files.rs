//! `load` reads a real file: error messages name it, and relative `cwd`s resolve against its
//! directory.

use std::path::{Path, PathBuf};

use switchboard_config::{Transport, load, parse};

use crate::no_env;

fn cwd_of(config: &switchboard_config::Config) -> Option<PathBuf> {
    match &config.upstreams[0].transport {
        Transport::Stdio { cwd, .. } => cwd.clone(),
        other => panic!("not stdio: {other:?}"),
    }
}

fn write(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("switchboard.yaml");
    if let Err(e) = std::fs::write(&path, yaml) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("no temp dir: {e}"),
    }
}

#[test]
fn relative_cwd_resolves_against_the_config_directory() {
    let dir = tempdir();
    let path = write(
        dir.path(),
        "upstreams:\n  a:\n    stdio: { command: x, cwd: . }\n  b:\n    stdio: { command: x, cwd: servers/b }\n  c:\n    stdio: { command: x, cwd: /opt/c }\n",
    );
    let config = match load(&path, &no_env) {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    };
    let cwds: Vec<Option<PathBuf>> = config
        .upstreams
        .iter()
        .map(|u| match &u.transport {
            Transport::Stdio { cwd, .. } => cwd.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        cwds,
        [
            Some(dir.path().to_path_buf()),
            Some(dir.path().join("servers/b")),
            Some(PathBuf::from("/opt/c")),
        ]
    );
}

#[test]
fn parse_resolves_relative_cwd_against_the_current_directory() {
    let config = match parse(
        "upstreams:\n  a:\n    stdio: { command: x, cwd: sub }\n",
        "inline",
        &no_env,
    ) {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    };
    let current = match std::env::current_dir() {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(cwd_of(&config), Some(current.join("sub")));
}

#[test]
fn errors_name_the_file() {
    let dir = tempdir();
    let path = write(dir.path(), "listen: 127.0.0.1:1\nbogus: 1\n");
    let error = match load(&path, &no_env) {
        Ok(config) => panic!("loaded {config:?}"),
        Err(e) => e,
    };
    assert_eq!(error.file(), path.display().to_string());
    assert_eq!(error.location(), Some((2, 1)));
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}:2:1: unknown field `bogus`", path.display())),
        "{error}"
    );
}

#[test]
fn a_missing_file_is_an_error_without_location() {
    let dir = tempdir();
    let path = dir.path().join("nope.yaml");
    let error = match load(&path, &no_env) {
        Ok(config) => panic!("loaded {config:?}"),
        Err(e) => e,
    };
    assert_eq!(error.location(), None);
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: cannot read the config file", path.display())),
        "{error}"
    );
}
