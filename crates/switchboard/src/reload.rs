//! Hot reload for `switchboard serve`: the config file is re-read on SIGHUP and when it changes
//! on disk (watched through its directory, so editors that replace the file by renaming are
//! seen too; changes are debounced). A file that does not load keeps the running config: the
//! error is logged with its line and column and nothing changes.
//!
//! `auth.keys_file` is watched the same way on its own: when it changes, its keys replace the
//! previous ones at once (a revoked key is refused on its next request); a file that does not
//! load keeps the keys already in force.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use switchboard_gateway::Gateway;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// Quiet time after a change before the file is read (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(300);

/// What a reload is told to apply besides the file: the listen override from the command line,
/// so an unchanged file never reads as a changed `listen`.
pub struct Source {
    pub path: PathBuf,
    pub listen_override: Option<String>,
}

/// Starts watching; runs until the process ends.
pub fn spawn(gw: Gateway, source: Source) {
    if let Some(path) = gw.config().auth.keys_file.clone() {
        spawn_keys_file(gw.clone(), path);
    }
    let (tx, rx) = mpsc::channel::<()>(1);
    let watcher = watch(&source.path, tx.clone());
    tokio::spawn(async move {
        // Kept alive as long as the task: dropping the watcher stops it.
        let _watcher = watcher;
        run(gw, source, tx, rx).await;
    });
}

/// Watches `auth.keys_file` and swaps its keys in whenever it changes.
fn spawn_keys_file(gw: Gateway, path: PathBuf) {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let watcher = watch(&path, tx);
    tokio::spawn(async move {
        let _watcher = watcher;
        while rx.recv().await.is_some() {
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let roles: Vec<&str> = gw
                .config()
                .auth
                .roles
                .iter()
                .map(|r| r.name.as_str())
                .collect();
            let env = |k: &str| std::env::var(k).ok();
            match switchboard_config::load_keys_file(&path, &env, &roles) {
                Ok(keys) => {
                    gw.replace_file_keys(&keys);
                    tracing::info!(keys = keys.len(), file = %path.display(), "keys file reloaded");
                }
                Err(e) => {
                    tracing::error!("keys file reload failed; the keys already in force stay: {e}")
                }
            }
        }
    });
}

fn watch(path: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let file = path.file_name()?.to_owned();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut watcher = match notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if ev.kind.is_access() {
            return;
        }
        if ev
            .paths
            .iter()
            .any(|p| p.file_name() == Some(file.as_os_str()))
        {
            // A full channel already holds a pending reload.
            let _ = tx.try_send(());
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("cannot watch the config file ({e}); reload with SIGHUP");
            return None;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!(dir = %dir.display(), "cannot watch the config file's directory ({e}); reload with SIGHUP");
        return None;
    }
    Some(watcher)
}

async fn run(gw: Gateway, source: Source, tx: mpsc::Sender<()>, mut rx: mpsc::Receiver<()>) {
    match signal(SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the config");
                    let _ = tx.send(()).await;
                }
            });
        }
        Err(e) => tracing::warn!("cannot listen for SIGHUP ({e}); reload by editing the file"),
    }
    while rx.recv().await.is_some() {
        // Let a burst of writes settle into one reload.
        loop {
            match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return,
                Err(_) => break,
            }
        }
        reload_once(&gw, &source).await;
    }
}

async fn reload_once(gw: &Gateway, source: &Source) {
    let env = |k: &str| std::env::var(k).ok();
    let mut config =
        match switchboard_config::load_with(&source.path, &env, &switchboard_connectors::check) {
            Ok(c) => c,
            Err(e) => {
                gw.record_reload(false);
                tracing::error!("config reload failed; still serving the previous config: {e}");
                gw.audit_reload(Err(e.to_string())).await;
                return;
            }
        };
    config.apply_listen_override(source.listen_override.as_deref(), &env);
    let written = switchboard_config::Written::read(&source.path);
    let done = match gw.reload_file(config, written).await {
        Ok(done) => done,
        Err(e) => {
            gw.record_reload(false);
            tracing::error!("config reload failed; still serving the previous config: {e}");
            gw.audit_reload(Err(e)).await;
            return;
        }
    };
    gw.record_reload(true);
    tracing::info!("config reloaded: {}", done.summary());
    gw.audit_reload(Ok(done.summary())).await;
    if !done.needs_restart.is_empty() {
        tracing::warn!(
            settings = done.needs_restart.join(", "),
            "config reload: these settings changed but only take effect after a restart"
        );
    }
}
