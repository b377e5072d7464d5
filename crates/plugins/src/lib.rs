//! Signed plugin bundles: what a plugin is, how it is packed and signed, and how it is let in.
//!
//! A plugin is a stdio MCP server shipped as a bundle (`.tar.gz`) holding `manifest.json` (name,
//! version, the command to run, the SHA-256 of every other file), `manifest.json.sig` (an
//! Ed25519 signature over the manifest's exact bytes) and the files. Nothing of a bundle is
//! trusted until its signature verifies against a trust root and every file matches its hash;
//! until then it lives only in memory, under caps that a hostile archive cannot talk its way
//! past (`bundle`). Only a verified bundle is written, to a temporary directory inside the
//! plugins directory, then renamed into place in one step (`store`).
//!
//! Code map: `manifest` (the model, its rules, the `plugin.yaml` template), `version`
//! (`MAJOR.MINOR.PATCH` ordering), `keys` (signing keys and trust roots as PEM), `pem`, `bundle`
//! (pack; read into memory safely), `verify` (a read bundle against trust roots), `store` (the
//! plugins directory: install, scan, remove), `error` (every refusal and its reason).
//!
//! Nothing here knows about upstreams or the gateway: the gateway turns a verified, installed
//! plugin into a stdio upstream.

pub mod bundle;
pub mod error;
pub mod keys;
pub mod manifest;
mod pem;
pub mod store;
pub mod verify;
pub mod version;

pub use bundle::{Bundle, Limits};
pub use error::Refusal;
pub use keys::{SigningKey, TrustRoots};
pub use manifest::Manifest;
pub use store::{Installed, Scanned};
pub use verify::Verified;

/// The manifest's file name, at the root of a bundle and of an installed plugin.
pub const MANIFEST: &str = "manifest.json";
/// The detached signature's file name: 64 raw bytes, Ed25519 over `manifest.json`'s bytes.
pub const SIGNATURE: &str = "manifest.json.sig";

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The 32 bytes of a 64-character hex SHA-256; `None` for anything else.
pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let nib = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[i] = (nib(pair[0])? << 4) | nib(pair[1])?;
    }
    Some(out)
}
