//! The admin API's state and operations: list, get, create or replace, and delete upstreams and
//! products at run time.
//!
//! The config file stays the base. What the API changes is an [`Overlay`] over it (per name: the
//! item as given, or deleted), resolved by the config crate exactly like the file
//! ([`switchboard_config::apply_overlay`]) and applied like a hot reload: only the upstreams
//! that changed restart, and sessions whose view changed hear `list_changed`. HTTP upstreams
//! are checked against the egress policy (SSRF strict mode) before anything changes.
//!
//! Every change is written to `<state_dir>/admin.json` before it applies: a temporary file,
//! fsynced, renamed over the old one, and the directory fsynced — so a crash leaves either the
//! old file or the new one, never half of one. At start the binary lays the file over the
//! config ([`load_state`]); a reload of the config file lays it over the new file too.
//!
//! Writers are serialised by one async mutex; an `If-Match` ETag (a hash of the item as
//! stored) refuses a change made from a stale read (412).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use switchboard_config::{Config, FieldError, Kind, Overlay, Written};

use crate::Gateway;
use crate::principal::Principal;
use crate::reload::Reloaded;

/// The state file's name under `state_dir`.
pub const STATE_FILE: &str = "admin.json";

/// Looks up an environment variable (injected: tests and the binary decide).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What the admin API starts from.
pub struct AdminInit {
    /// The config file's config (listen override applied), without the overlay.
    pub base: Config,
    /// The file's items as written, to show them.
    pub written: Written,
    /// The state file's overlay, as [`load_state`] read it.
    pub overlay: Overlay,
    /// What relative paths in the overlay resolve against (the config file's directory).
    pub base_dir: PathBuf,
    /// Where the state file lives (`Config::state_dir_in`).
    pub state_dir: PathBuf,
    pub env: Env,
}

struct Inner {
    init: AdminInit,
    /// `base` with the overlay applied: what is running.
    effective: Config,
}

/// The admin API's state; unavailable until the binary calls [`Gateway::admin_init`].
#[derive(Default)]
pub struct Admin {
    inner: tokio::sync::Mutex<Option<Inner>>,
}

/// Why an admin operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the admin API is not available in this process")]
    Unavailable,
    #[error("the admin API needs the `admin` scope (or, with auth off, a loopback client)")]
    Forbidden,
    #[error("no {0}")]
    NotFound(String),
    /// A body that is not what the API takes (400).
    #[error("{0}")]
    BadRequest(String),
    /// A body the config's own checks refuse (422).
    #[error("{0}")]
    Invalid(FieldError),
    /// `If-Match` names another version than the one stored (412).
    #[error("If-Match does not match the current ETag ({})", .0.as_deref().unwrap_or("none: the item does not exist"))]
    Stale(Option<String>),
    /// The state file could not be written: nothing changed (500).
    #[error("cannot write the state file: {0}")]
    Io(String),
}

/// One item as the API shows it: what `PUT` takes (with its `id`), and its ETag.
#[derive(Debug, Clone)]
pub struct Item {
    pub body: Value,
    pub etag: String,
}

/// The state file under `state_dir`.
pub fn state_file(state_dir: &Path) -> PathBuf {
    state_dir.join(STATE_FILE)
}

/// Reads the state file: none is an empty overlay. A file that does not parse is an error
/// (serving without it would bring back what the API deleted). A temporary file left by a
/// crash mid-write is removed: the file it was to replace is still whole.
pub fn load_state(path: &Path) -> Result<Overlay, String> {
    let tmp = temp_path(path);
    if tmp.exists() {
        tracing::warn!(file = %tmp.display(), "removing an unfinished state file write (a crash mid-write); the previous state stays");
        let _ = std::fs::remove_file(&tmp);
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Overlay::default()),
        Err(e) => {
            return Err(format!(
                "cannot read the state file {}: {e}",
                path.display()
            ));
        }
    };
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "the state file {} is not valid ({e}); it holds the admin API's changes: repair it or move it away",
            path.display()
        )
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces the state file atomically: temp file (mode 0600), fsync, rename, fsync the
/// directory.
pub fn persist(path: &Path, overlay: &Overlay) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_vec_pretty(overlay).map_err(std::io::Error::other)?;
    let tmp = temp_path(path);
    // Only the gateway's user reads it: an upstream's headers may hold a literal secret.
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?
    };
    f.write_all(&text)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// A strong ETag: the first 16 bytes of the SHA-256 of the item's canonical JSON (keys sorted).
fn etag(body: &Value) -> String {
    let mut canonical = String::new();
    canonical_json(&mut canonical, body);
    let d = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    let mut s = String::with_capacity(34);
    s.push('"');
    for b in &d.as_ref()[..16] {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('"');
    s
}

fn canonical_json(out: &mut String, v: &Value) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(out, &m[k]);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(out, x);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

impl Inner {
    /// The item `id` of `kind` as running, if it exists.
    fn item(&self, kind: Kind, id: &str) -> Option<Item> {
        let exists = match kind {
            Kind::Upstream => self.effective.upstreams.iter().any(|u| u.name == id),
            Kind::Product => self.effective.products.iter().any(|p| p.id == id),
        };
        if !exists {
            return None;
        }
        let stored = match self.init.overlay.entries(kind).get(id) {
            Some(v) => v.clone(),
            None => self
                .init
                .written
                .entries(kind)
                .iter()
                .find(|(k, _)| k == id)
                .map(|(_, v)| v.clone()),
        };
        // An upstream from `SWITCHBOARD_UPSTREAMS` has no written form: its URL stands in.
        let stored =
            stored.unwrap_or_else(
                || match switchboard_config::remote_url(&self.effective, id) {
                    Some(url) => serde_json::json!({ "http": { "url": url } }),
                    None => serde_json::json!({}),
                },
            );
        let mut body = serde_json::Map::new();
        body.insert("id".to_owned(), Value::String(id.to_owned()));
        match stored {
            Value::Object(m) => body.extend(m),
            Value::Null => {}
            other => {
                body.insert("value".to_owned(), other);
            }
        }
        let body = Value::Object(body);
        Some(Item {
            etag: etag(&body),
            body,
        })
    }

    fn ids(&self, kind: Kind) -> Vec<String> {
        match kind {
            Kind::Upstream => self
                .effective
                .upstreams
                .iter()
                .map(|u| u.name.clone())
                .collect(),
            Kind::Product => self
                .effective
                .products
                .iter()
                .map(|p| p.id.clone())
                .collect(),
        }
    }

    fn resolve(&self, overlay: &Overlay) -> Result<Config, FieldError> {
        switchboard_config::apply_overlay(
            &self.init.base,
            overlay,
            &self.init.base_dir,
            &*self.init.env,
            &switchboard_connectors::check,
        )
    }
}

/// Whether `if_match` allows changing `current` (`*` matches any existing item).
fn precondition(if_match: Option<&str>, current: Option<&Item>) -> Result<(), AdminError> {
    let Some(want) = if_match else {
        return Ok(());
    };
    let ok = match current {
        Some(item) => {
            want.trim() == "*"
                || want
                    .split(',')
                    .any(|t| t.trim().trim_start_matches("W/") == item.etag)
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(AdminError::Stale(current.map(|i| i.etag.clone())))
    }
}

impl Gateway {
    /// Makes the admin API available, over the config the gateway was built with.
    pub async fn admin_init(&self, init: AdminInit) {
        let effective = self.state.config.clone();
        *self.state.admin.inner.lock().await = Some(Inner { init, effective });
    }

    /// Usage accounting (`/api/usage`).
    pub fn usage(&self) -> &crate::usage::Usage {
        &self.state.usage
    }

    /// Every item of `kind`, in config order.
    pub async fn admin_list(&self, kind: Kind) -> Result<Vec<Item>, AdminError> {
        let inner = self.state.admin.inner.lock().await;
        let inner = inner.as_ref().ok_or(AdminError::Unavailable)?;
        Ok(inner
            .ids(kind)
            .iter()
            .filter_map(|id| inner.item(kind, id))
            .collect())
    }

    pub async fn admin_get(&self, kind: Kind, id: &str) -> Result<Item, AdminError> {
        let inner = self.state.admin.inner.lock().await;
        let inner = inner.as_ref().ok_or(AdminError::Unavailable)?;
        inner
            .item(kind, id)
            .ok_or_else(|| AdminError::NotFound(format!("{} `{id}`", singular(kind))))
    }

    /// Creates or replaces an item. `body` is the item as JSON; an `id` in it must be `id`.
    /// Returns the item as stored and whether it was created.
    pub async fn admin_put(
        &self,
        principal: &Principal,
        kind: Kind,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<(Item, bool), AdminError> {
        let Value::Object(mut fields) = body else {
            return Err(AdminError::BadRequest(format!(
                "the body must be a JSON object (the {} as in the config file)",
                singular(kind)
            )));
        };
        match fields.remove("id") {
            None => {}
            Some(Value::String(s)) if s == id => {}
            Some(other) => {
                return Err(AdminError::BadRequest(format!(
                    "the body's `id` ({other}) is not the path's `{id}`"
                )));
            }
        }
        self.admin_change(principal, kind, id, Some(Value::Object(fields)), if_match)
            .await
            .and_then(|(item, created)| {
                item.map(|i| (i, created))
                    .ok_or_else(|| AdminError::NotFound(format!("{} `{id}`", singular(kind))))
            })
    }

    /// Deletes an item (one from the config file too: the deletion is kept in the state file).
    pub async fn admin_delete(
        &self,
        principal: &Principal,
        kind: Kind,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), AdminError> {
        self.admin_change(principal, kind, id, None, if_match)
            .await
            .map(|_| ())
    }

    async fn admin_change(
        &self,
        principal: &Principal,
        kind: Kind,
        id: &str,
        value: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<(Option<Item>, bool), AdminError> {
        if !self.may_administer(principal) {
            return Err(AdminError::Forbidden);
        }
        let mut guard = self.state.admin.inner.lock().await;
        let inner = guard.as_mut().ok_or(AdminError::Unavailable)?;
        let current = inner.item(kind, id);
        if value.is_none() && current.is_none() {
            return Err(AdminError::NotFound(format!("{} `{id}`", singular(kind))));
        }
        precondition(if_match, current.as_ref())?;
        let mut overlay = inner.init.overlay.clone();
        let deleting = value.is_none();
        overlay.entries_mut(kind).insert(id.to_owned(), value);
        let effective = inner.resolve(&overlay).map_err(AdminError::Invalid)?;
        if kind == Kind::Upstream
            && !deleting
            && let Some(up) = effective.upstreams.iter().find(|u| u.name == id)
            && let Some(url) = switchboard_config::remote_url(&effective, id)
            && let Err(e) = crate::upstreams::outbound::egress_policy(&self.state.config, up)
                .check_url_str(&url)
        {
            let transport = match up.transport {
                switchboard_config::Transport::Sse { .. } => "sse",
                _ => "http",
            };
            return Err(AdminError::Invalid(FieldError {
                path: format!("upstreams.{id}.{transport}.url"),
                message: format!("refused by the egress policy: {e}"),
            }));
        }
        // A product that would expose two tools of the live catalog under one name is refused
        // here, before anything is written (a reload would refuse it too, keeping the old set).
        if kind == Kind::Product
            && !deleting
            && let Some(p) = effective.products.iter().find(|p| p.id == id)
            && let Some(collision) = self.product_report(p).collisions.into_iter().next()
        {
            return Err(AdminError::Invalid(FieldError {
                path: format!("products.{id}.overrides"),
                message: collision,
            }));
        }
        let path = state_file(&inner.init.state_dir);
        let written = overlay.clone();
        tokio::task::spawn_blocking(move || persist(&path, &written))
            .await
            .map_err(|e| AdminError::Io(e.to_string()))?
            .map_err(|e| AdminError::Io(e.to_string()))?;
        inner.init.overlay = overlay;
        inner.effective = effective;
        let done = self.apply_collections(&inner.effective).await;
        let item = inner.item(kind, id);
        drop(guard);
        let action = match (kind, deleting) {
            (Kind::Upstream, false) => "upstream_put",
            (Kind::Upstream, true) => "upstream_delete",
            (Kind::Product, false) => "product_put",
            (Kind::Product, true) => "product_delete",
        };
        tracing::info!(
            principal = principal.id(),
            action,
            id,
            "admin API: {}",
            done.summary()
        );
        self.audit_admin(
            action,
            principal.shared_id(),
            "ok",
            Some(format!("{} `{id}`; {}", singular(kind), done.summary())),
            None,
        )
        .await;
        Ok((item, current.is_none()))
    }

    /// A reload of the config file: `base` is the new file's config, which the admin API's
    /// overlay is laid over before it applies. Without the admin API (`admin_init` not
    /// called) it applies as it is. `Err` when the overlay no longer fits the new file (a
    /// prefix taken, say): nothing changes.
    pub async fn reload_file(&self, base: Config, written: Written) -> Result<Reloaded, String> {
        let mut guard = self.state.admin.inner.lock().await;
        let Some(inner) = guard.as_mut() else {
            drop(guard);
            return Ok(self.reload(&base).await);
        };
        let previous = std::mem::replace(&mut inner.init.base, base);
        match inner.resolve(&inner.init.overlay) {
            Ok(effective) => {
                inner.init.written = written;
                inner.effective = effective;
                Ok(self.reload(&inner.effective).await)
            }
            Err(e) => {
                inner.init.base = previous;
                Err(format!(
                    "the admin API's changes (state file) do not fit the new config file: {e}"
                ))
            }
        }
    }
}

fn singular(kind: Kind) -> &'static str {
    match kind {
        Kind::Upstream => "upstream",
        Kind::Product => "product",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_interrupted_before_its_rename_leaves_the_previous_state() {
        let dir = std::env::temp_dir().join(format!("sb-admin-{}", std::process::id()));
        let path = state_file(&dir);
        let mut o = Overlay::default();
        o.products
            .insert("test".into(), Some(serde_json::json!({"name": "Test"})));
        persist(&path, &o).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A crash mid-write: the temporary file holds half a document.
        std::fs::write(temp_path(&path), b"{\"products\": {\"te").unwrap();
        assert_eq!(load_state(&path).unwrap(), o);
        assert!(!temp_path(&path).exists());
        // The state file itself truncated (not by us): a clear error, not an empty overlay.
        std::fs::write(&path, b"{\"products\": {\"te").unwrap();
        let e = load_state(&path).unwrap_err();
        assert!(e.contains("admin.json") && e.contains("not valid"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn etags_ignore_key_order_and_if_match_compares_them() {
        let a = etag(&serde_json::json!({"id": "x", "name": "X"}));
        let b = etag(&serde_json::json!({"name": "X", "id": "x"}));
        assert_eq!(a, b);
        let item = Item {
            body: Value::Null,
            etag: a.clone(),
        };
        assert!(precondition(Some(&a), Some(&item)).is_ok());
        assert!(precondition(Some("*"), Some(&item)).is_ok());
        assert!(matches!(
            precondition(Some("\"0\""), Some(&item)),
            Err(AdminError::Stale(Some(_)))
        ));
        assert!(matches!(
            precondition(Some("*"), None),
            Err(AdminError::Stale(None))
        ));
    }
}
