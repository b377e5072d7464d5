//! Every reason a bundle or an installed plugin is refused. The message is the reason shown to
//! the operator (CLI, log, `/status`, the runtime-install answer), so each says what was found
//! and, where it helps, what to do.

/// Why a bundle or an installed plugin is not let in.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Refusal {
    #[error("not a gzip-compressed tar archive: {0}")]
    NotABundle(String),
    /// An entry that could write outside the plugin's directory, or is not a plain file or
    /// directory (links, devices, FIFOs are all refused).
    #[error("unsafe entry `{path}`: {why}")]
    UnsafeEntry { path: String, why: String },
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("no manifest.json at the bundle's root")]
    MissingManifest,
    #[error(
        "no manifest.json.sig: the bundle is not signed (sign it with `switchboard plugin pack --key`)"
    )]
    MissingSignature,
    #[error("manifest.json.sig is not a 64-byte Ed25519 signature ({0} bytes)")]
    MalformedSignature(usize),
    #[error(
        "no trust root: plugins.trust_roots names no readable public key, and a signature can only be checked against one"
    )]
    NoTrustRoot,
    #[error(
        "signature does not verify against any trust root ({0} key(s)): the bundle was signed by another key, or manifest.json was changed after signing"
    )]
    BadSignature(usize),
    #[error("manifest.json: {0}")]
    Manifest(String),
    #[error(
        "file `{path}` does not match its SHA-256 in the manifest (manifest {expected}, file {actual})"
    )]
    HashMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("file `{0}` is listed in the manifest but missing")]
    MissingFile(String),
    #[error("file `{0}` is not listed in the manifest")]
    UnlistedFile(String),
    #[error("needs switchboard {need} or newer; this is {have}")]
    TooNew { need: String, have: String },
    #[error(
        "version {new} is older than the installed {installed}; remove the installed plugin first to downgrade"
    )]
    Downgrade { new: String, installed: String },
    #[error("installed under `{dir}` but its manifest names `{name}`")]
    WrongDirectory { dir: String, name: String },
    #[error("{0}")]
    Io(String),
}

impl Refusal {
    pub(crate) fn unsafe_entry(path: impl Into<String>, why: impl Into<String>) -> Refusal {
        Refusal::UnsafeEntry {
            path: path.into(),
            why: why.into(),
        }
    }
}
