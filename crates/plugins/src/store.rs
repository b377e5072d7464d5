//! The plugins directory: `<dir>/<name>/` holds one installed plugin exactly as its bundle
//! unpacked (`manifest.json`, `manifest.json.sig` and the listed files, nothing else).
//!
//! Install writes a verified bundle into a hidden temporary directory inside the plugins
//! directory (same filesystem), then moves it into place with one `rename` — or, over an
//! installed version, one `renameat2(RENAME_EXCHANGE)` that swaps the two directories — so a
//! reader sees the old plugin or the new one, never a mix. Entries starting with `.` are such
//! temporaries and are never loaded.
//!
//! Loading re-checks everything on disk: the signature, that the directory is named after the
//! manifest, that no link and no unlisted file is present, and every file's hash.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::Refusal;
use crate::manifest::{Manifest, check_name};
use crate::verify::{Signature, Verified, check_min_version, check_signature};
use crate::version::Version;
use crate::{MANIFEST, SIGNATURE};

/// An installed plugin that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub manifest: Manifest,
    /// `<plugins dir>/<name>`, absolute when the plugins directory is.
    pub dir: PathBuf,
    /// The command's path (inside `dir`).
    pub command: PathBuf,
    /// What the command's file must hash to before every start.
    pub command_sha256: [u8; 32],
}

impl Installed {
    fn new(manifest: Manifest, dir: PathBuf) -> Result<Installed, Refusal> {
        let command_sha256 = manifest
            .sha256_of(&manifest.command)
            .ok_or_else(|| Refusal::Manifest("`command` is not one of `files`".to_owned()))?;
        Ok(Installed {
            command: dir.join(&manifest.command),
            command_sha256,
            manifest,
            dir,
        })
    }
}

/// One entry of the plugins directory and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// The directory's name (the plugin's name when it loads).
    pub name: String,
    /// The manifest's version, when a manifest could be read at all.
    pub version: Option<String>,
    pub outcome: Result<Installed, Refusal>,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Refusal {
    Refusal::Io(format!("{what} {}: {e}", path.display()))
}

/// Writes `verified` into `dir` as `dir/<name>`, replacing an installed version that is not
/// newer. Nothing is left behind on failure.
pub fn install(dir: &Path, verified: &Verified) -> Result<Installed, Refusal> {
    let name = &verified.manifest.name;
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    let target = dir.join(name);
    let exists = std::fs::symlink_metadata(&target).is_ok();
    if exists
        && let Some(installed) = std::fs::read(target.join(MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        && let (Some(old), Some(new)) = (
            Version::parse(&installed.version),
            Version::parse(&verified.manifest.version),
        )
        && new < old
    {
        return Err(Refusal::Downgrade {
            new: verified.manifest.version.clone(),
            installed: installed.version,
        });
    }
    let tmp = dir.join(format!(
        ".install-{name}-{}",
        crate::hex(&rand::random::<[u8; 8]>())
    ));
    let result = write_tree(&tmp, verified).and_then(|()| {
        if exists {
            exchange(&tmp, &target).map_err(|e| io("cannot swap in", &target, e))
        } else {
            std::fs::rename(&tmp, &target).map_err(|e| io("cannot move into place", &target, e))
        }
    });
    // After an exchange `tmp` holds the old version; after a failure, the partial new one.
    if std::fs::symlink_metadata(&tmp).is_ok() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result?;
    Installed::new(verified.manifest.clone(), target)
}

fn write_tree(tmp: &Path, v: &Verified) -> Result<(), Refusal> {
    std::fs::create_dir(tmp).map_err(|e| io("cannot create", tmp, e))?;
    let write = |rel: &str, data: &[u8], mode: u32| -> Result<(), Refusal> {
        let path = tmp.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("cannot create", parent, e))?;
        }
        std::fs::write(&path, data).map_err(|e| io("cannot write", &path, e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io("cannot set the mode of", &path, e))
    };
    write(MANIFEST, &v.manifest_bytes, 0o644)?;
    if !v.signature.is_empty() {
        write(SIGNATURE, &v.signature, 0o644)?;
    }
    for (rel, f) in &v.files {
        let exec = f.executable || *rel == v.manifest.command;
        write(rel, &f.data, if exec { 0o755 } else { 0o644 })?;
    }
    Ok(())
}

/// Swaps two directories in one step (Linux `renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Loads the plugin installed at `dir/<name>`, checking everything.
pub fn load(dir: &Path, name: &str, how: Signature<'_>, have: &str) -> Scanned {
    let mut version = None;
    let outcome = load_checked(&dir.join(name), name, how, have, &mut version);
    Scanned {
        name: name.to_owned(),
        version,
        outcome,
    }
}

fn load_checked(
    root: &Path,
    name: &str,
    how: Signature<'_>,
    have: &str,
    version: &mut Option<String>,
) -> Result<Installed, Refusal> {
    let manifest_path = root.join(MANIFEST);
    let manifest_bytes = read_plain(&manifest_path)?.ok_or(Refusal::MissingManifest)?;
    // For the report only: shown even when the plugin is refused.
    *version = serde_json::from_slice::<serde_json::Value>(&manifest_bytes)
        .ok()
        .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(str::to_owned));
    let sig = read_plain(&root.join(SIGNATURE))?;
    check_signature(&manifest_bytes, sig.as_deref(), how)?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    if manifest.name != name {
        return Err(Refusal::WrongDirectory {
            dir: name.to_owned(),
            name: manifest.name,
        });
    }
    check_min_version(&manifest, have)?;
    let mut seen = BTreeSet::new();
    check_tree(root, "", &manifest, &mut seen)?;
    if let Some(missing) = manifest.files.keys().find(|p| !seen.contains(*p)) {
        return Err(Refusal::MissingFile(missing.clone()));
    }
    Installed::new(manifest, root.to_path_buf())
}

/// The bytes of a regular file; `None` if absent; a link or anything else is refused.
fn read_plain(path: &Path) -> Result<Option<Vec<u8>>, Refusal> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("cannot read", path, e)),
        Ok(m) if m.file_type().is_file() => std::fs::read(path)
            .map(Some)
            .map_err(|e| io("cannot read", path, e)),
        Ok(_) => Err(Refusal::unsafe_entry(
            path.display().to_string(),
            "is not a regular file",
        )),
    }
}

fn check_tree(
    dir: &Path,
    rel: &str,
    manifest: &Manifest,
    seen: &mut BTreeSet<String>,
) -> Result<(), Refusal> {
    let entries = std::fs::read_dir(dir).map_err(|e| io("cannot read", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("cannot read", dir, e))?;
        let file_name = entry.file_name();
        let name = file_name.to_string_lossy();
        let path = if rel.is_empty() {
            name.clone().into_owned()
        } else {
            format!("{rel}/{name}")
        };
        let ft = entry
            .file_type()
            .map_err(|e| io("cannot read", &entry.path(), e))?;
        if ft.is_symlink() {
            return Err(Refusal::unsafe_entry(
                path,
                "is a symbolic link; an installed plugin holds plain files only",
            ));
        }
        if ft.is_dir() {
            check_tree(&entry.path(), &path, manifest, seen)?;
            continue;
        }
        if rel.is_empty() && (path == MANIFEST || path == SIGNATURE) {
            continue;
        }
        if !ft.is_file() {
            return Err(Refusal::unsafe_entry(path, "is not a regular file"));
        }
        let Some(expected) = manifest.files.get(&path) else {
            return Err(Refusal::UnlistedFile(path));
        };
        let data = std::fs::read(entry.path()).map_err(|e| io("cannot read", &entry.path(), e))?;
        let actual = crate::hex(&crate::sha256(&data));
        if actual != *expected {
            return Err(Refusal::HashMismatch {
                path,
                expected: expected.clone(),
                actual,
            });
        }
        seen.insert(path);
    }
    Ok(())
}

/// Every plugin under `dir`, in name order. Hidden entries (install temporaries) and plain
/// files are skipped; a missing directory holds no plugins.
pub fn scan(dir: &Path, how: Signature<'_>, have: &str) -> Vec<Scanned> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| match check_name(&name) {
            Ok(()) => load(dir, &name, how, have),
            Err(e) => Scanned {
                name,
                version: None,
                outcome: Err(Refusal::Manifest(format!("directory name: {e}"))),
            },
        })
        .collect()
}

/// Removes `dir/<name>` (moved aside in one step first, so no half-removed plugin is ever
/// loaded). False when nothing of that name is installed.
pub fn remove(dir: &Path, name: &str) -> Result<bool, String> {
    check_name(name)?;
    let target = dir.join(name);
    if std::fs::symlink_metadata(&target).is_err() {
        return Ok(false);
    }
    let aside = dir.join(format!(
        ".remove-{name}-{}",
        crate::hex(&rand::random::<[u8; 8]>())
    ));
    std::fs::rename(&target, &aside)
        .map_err(|e| format!("cannot remove {}: {e}", target.display()))?;
    std::fs::remove_dir_all(&aside)
        .map_err(|e| format!("cannot remove {}: {e}", aside.display()))?;
    Ok(true)
}
