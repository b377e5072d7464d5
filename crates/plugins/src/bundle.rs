//! Bundles: packing a directory into a signed `.tar.gz`, and reading one back into memory
//! without trusting anything it says.
//!
//! Reading is where a hostile archive would attack, so it is strict and bounded:
//! - only plain files and directories; every link (symbolic or hard), device, FIFO and sparse
//!   entry is refused, whatever it points at — a bundle never needs one, and refusing all of them
//!   is simpler to get right than judging where each would lead;
//! - every path is relative, `/`-separated, without `.`, `..` or empty components (a leading `./`,
//!   which `tar -C dir .` writes, is dropped); a path seen twice is refused (a later entry must not
//!   silently replace an earlier one);
//! - caps on the file count, each file's size and the total: the bytes coming out of the
//!   decompressor are counted as they are read, so a header that lies about a size or a
//!   decompression bomb stops at the cap instead of filling memory.
//!
//! Nothing is written to disk here: a [`Bundle`] is the archive's content in memory, to be
//! verified (`verify`) before `store` writes any of it.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::rc::Rc;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use tar::EntryType;

use crate::error::Refusal;
use crate::keys::SigningKey;
use crate::manifest::{Manifest, Template, check_path};
use crate::{MANIFEST, SIGNATURE};

/// Caps on what a bundle may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest compressed bundle (what a runtime install accepts as a body).
    pub max_bundle_bytes: u64,
    /// Largest total of the decompressed stream (tar headers and padding included).
    pub max_unpacked_bytes: u64,
    /// Largest single file.
    pub max_file_bytes: u64,
    /// Most entries (files and directories).
    pub max_entries: usize,
}

/// 64 MiB compressed.
pub const DEFAULT_MAX_BUNDLE_BYTES: u64 = 64 * 1024 * 1024;
/// 256 MiB unpacked.
pub const DEFAULT_MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// 128 MiB per file.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 128 * 1024 * 1024;
/// 10 000 entries.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bundle_bytes: DEFAULT_MAX_BUNDLE_BYTES,
            max_unpacked_bytes: DEFAULT_MAX_UNPACKED_BYTES,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub data: Vec<u8>,
    /// Any execute bit was set in the archive (it is installed 0755, else 0644).
    pub executable: bool,
}

/// A bundle's content, in memory and not yet trusted.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    pub manifest: Option<Vec<u8>>,
    pub signature: Option<Vec<u8>>,
    /// Every other file, by its path in the bundle.
    pub files: BTreeMap<String, BundleFile>,
}

/// Counts the decompressed bytes and fails the read past the cap.
struct Counted<R> {
    inner: R,
    read: Rc<Cell<u64>>,
    cap: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.read.get() + n as u64;
        self.read.set(total);
        if total > self.cap {
            return Err(std::io::Error::other("unpacked size cap reached"));
        }
        Ok(n)
    }
}

impl Bundle {
    /// Reads a `.tar.gz` into memory under `limits`.
    pub fn read(bytes: &[u8], limits: &Limits) -> Result<Bundle, Refusal> {
        if bytes.len() as u64 > limits.max_bundle_bytes {
            return Err(Refusal::TooLarge(format!(
                "the bundle is {} bytes; at most {} are accepted",
                bytes.len(),
                limits.max_bundle_bytes
            )));
        }
        let read = Rc::new(Cell::new(0u64));
        let counted = Counted {
            inner: GzDecoder::new(bytes),
            read: read.clone(),
            cap: limits.max_unpacked_bytes,
        };
        let over = || read.get() > limits.max_unpacked_bytes;
        let too_large = || {
            Refusal::TooLarge(format!(
                "unpacks to more than {} bytes (the cap on a bundle's unpacked size)",
                limits.max_unpacked_bytes
            ))
        };
        let broken = |e: std::io::Error| {
            if over() {
                too_large()
            } else {
                Refusal::NotABundle(e.to_string())
            }
        };
        let mut archive = tar::Archive::new(counted);
        let mut bundle = Bundle::default();
        let mut entries = 0usize;
        let mut total = 0u64;
        for entry in archive.entries().map_err(broken)? {
            let mut entry = entry.map_err(broken)?;
            entries += 1;
            if entries > limits.max_entries {
                return Err(Refusal::TooLarge(format!(
                    "more than {} entries",
                    limits.max_entries
                )));
            }
            let raw = entry.path_bytes();
            let Ok(text) = std::str::from_utf8(&raw) else {
                return Err(Refusal::unsafe_entry(
                    String::from_utf8_lossy(&raw),
                    "the path is not UTF-8",
                ));
            };
            let mut path = text.to_owned();
            while let Some(rest) = path.strip_prefix("./") {
                path = rest.to_owned();
            }
            let kind = entry.header().entry_type();
            match kind {
                EntryType::Regular | EntryType::Continuous => {}
                EntryType::Directory => {
                    let dir = path.trim_end_matches('/');
                    if !dir.is_empty() && dir != "." {
                        check_path(dir).map_err(|e| Refusal::unsafe_entry(text, e))?;
                    }
                    continue;
                }
                // Metadata for the whole archive (`git archive` writes one); nothing to unpack.
                EntryType::XGlobalHeader => continue,
                EntryType::Symlink | EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    return Err(Refusal::unsafe_entry(
                        text,
                        format!(
                            "is a link (to {target:?}); bundles hold plain files and directories only, so every link is refused"
                        ),
                    ));
                }
                other => {
                    return Err(Refusal::unsafe_entry(
                        text,
                        format!(
                            "is a {other:?} entry; bundles hold plain files and directories only"
                        ),
                    ));
                }
            }
            check_path(&path).map_err(|e| Refusal::unsafe_entry(text, e))?;
            let declared = entry.header().size().unwrap_or(u64::MAX);
            let too_big = || {
                Refusal::TooLarge(format!(
                    "file `{path}` is over {} bytes (the cap on one file)",
                    limits.max_file_bytes
                ))
            };
            if declared > limits.max_file_bytes {
                return Err(too_big());
            }
            // The header's size is only an upper bound on what is read; the count is real.
            let mut data = Vec::with_capacity(declared.min(1024 * 1024) as usize);
            (&mut entry)
                .take(limits.max_file_bytes + 1)
                .read_to_end(&mut data)
                .map_err(broken)?;
            if data.len() as u64 > limits.max_file_bytes {
                return Err(too_big());
            }
            total += data.len() as u64;
            if total > limits.max_unpacked_bytes {
                return Err(too_large());
            }
            let executable = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
            let twice = || Refusal::unsafe_entry(&path, "appears twice in the archive");
            match path.as_str() {
                MANIFEST if bundle.manifest.is_some() => return Err(twice()),
                MANIFEST => bundle.manifest = Some(data),
                SIGNATURE if bundle.signature.is_some() => return Err(twice()),
                SIGNATURE => bundle.signature = Some(data),
                _ => {
                    if bundle.files.contains_key(&path) {
                        return Err(twice());
                    }
                    bundle.files.insert(path, BundleFile { data, executable });
                }
            }
        }
        if over() {
            return Err(too_large());
        }
        Ok(bundle)
    }
}

/// Template file names `pack` reads from `SRC_DIR` (and leaves out of the bundle's files).
pub const TEMPLATES: [&str; 2] = ["plugin.yaml", MANIFEST];

/// Packs `src` into a signed bundle: the template's fields, every other file of `src` with its
/// SHA-256, the manifest signed with `key`. Returns the manifest and the `.tar.gz` bytes.
/// Output is deterministic: files in path order, mtime 0, owner 0, modes 0644/0755.
pub fn pack(src: &Path, key: &SigningKey) -> Result<(Manifest, Vec<u8>), String> {
    let yaml = src.join("plugin.yaml");
    let json = src.join(MANIFEST);
    let template = match (yaml.is_file(), json.is_file()) {
        (true, true) => {
            return Err(format!(
                "{} holds both plugin.yaml and manifest.json; keep one template",
                src.display()
            ));
        }
        (true, false) => Template::from_yaml(
            &std::fs::read_to_string(&yaml).map_err(|e| format!("{}: {e}", yaml.display()))?,
        )?,
        (false, true) => Template::from_json(
            &std::fs::read(&json).map_err(|e| format!("{}: {e}", json.display()))?,
        )?,
        (false, false) => {
            return Err(format!(
                "{} has no plugin.yaml or manifest.json naming at least name, version and command",
                src.display()
            ));
        }
    };
    let mut files = BTreeMap::new();
    collect(src, "", &mut files)?;
    let hashes = files
        .iter()
        .map(|(p, f)| (p.clone(), crate::hex(&crate::sha256(&f.data))))
        .collect();
    let manifest = template.into_manifest(hashes);
    manifest.check()?;
    let manifest_bytes = manifest.to_json();
    let signature = key.sign(&manifest_bytes);

    let gz = GzEncoder::new(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut add = |path: &str, data: &[u8], executable: bool| -> std::io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(if executable { 0o755 } else { 0o644 });
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, path, data)
    };
    let io = |e: std::io::Error| format!("cannot write the bundle: {e}");
    add(MANIFEST, &manifest_bytes, false).map_err(io)?;
    add(SIGNATURE, &signature, false).map_err(io)?;
    for (path, f) in &files {
        add(path, &f.data, f.executable).map_err(io)?;
    }
    let mut gz = tar.into_inner().map_err(io)?;
    gz.flush().map_err(io)?;
    let bytes = gz.finish().map_err(io)?;
    // What is packed must also unpack.
    Bundle::read(&bytes, &Limits::default())
        .map_err(|e| format!("the packed bundle would be refused: {e}"))?;
    Ok((manifest, bytes))
}

/// Every regular file under `dir` (relative path `rel`), refusing links and special files.
fn collect(dir: &Path, rel: &str, out: &mut BTreeMap<String, BundleFile>) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(format!(
                "{}: file names must be UTF-8",
                entry.path().display()
            ));
        };
        let path = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        if rel.is_empty() && (TEMPLATES.contains(&name) || name == SIGNATURE) {
            continue;
        }
        check_path(&path)?;
        let meta = std::fs::symlink_metadata(entry.path())
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            return Err(format!(
                "{} is a symbolic link; bundles hold plain files only (copy the target in)",
                entry.path().display()
            ));
        } else if ft.is_dir() {
            collect(&entry.path(), &path, out)?;
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let data = std::fs::read(entry.path())
                .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
            let executable = meta.permissions().mode() & 0o111 != 0;
            out.insert(path, BundleFile { data, executable });
        } else {
            return Err(format!(
                "{} is not a regular file or directory",
                entry.path().display()
            ));
        }
    }
    Ok(())
}
