//! Deciding whether a bundle is let in: its signature against the trust roots, then its
//! manifest, then every file against its hash, then the version it needs. The checks run in
//! that order so the first reason reported is the most fundamental one: nothing inside a bundle
//! is read as meaningful before its signature has verified.

use std::collections::BTreeMap;

use crate::bundle::{Bundle, BundleFile};
use crate::error::Refusal;
use crate::keys::{SIGNATURE_LEN, TrustRoots};
use crate::manifest::Manifest;
use crate::version::Version;

/// A bundle whose signature verified and whose files all match the manifest.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    /// The exact bytes that were signed (written as they are).
    pub manifest_bytes: Vec<u8>,
    pub signature: Vec<u8>,
    pub files: BTreeMap<String, BundleFile>,
}

/// Whether to check the signature. `No` is the `plugins.verify: false` opt-out: the manifest
/// and every hash are still checked, only who signed is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature<'a> {
    Check(&'a TrustRoots),
    Skip,
}

/// Checks `bundle` for a switchboard of version `have`.
pub fn verify(bundle: Bundle, signature: Signature<'_>, have: &str) -> Result<Verified, Refusal> {
    let manifest_bytes = bundle.manifest.ok_or(Refusal::MissingManifest)?;
    check_signature(&manifest_bytes, bundle.signature.as_deref(), signature)?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    check_min_version(&manifest, have)?;
    for (path, expected) in &manifest.files {
        let file = bundle
            .files
            .get(path)
            .ok_or_else(|| Refusal::MissingFile(path.clone()))?;
        let actual = crate::hex(&crate::sha256(&file.data));
        if actual != *expected {
            return Err(Refusal::HashMismatch {
                path: path.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    if let Some(extra) = bundle
        .files
        .keys()
        .find(|p| !manifest.files.contains_key(*p))
    {
        return Err(Refusal::UnlistedFile(extra.clone()));
    }
    Ok(Verified {
        manifest,
        manifest_bytes,
        signature: bundle.signature.unwrap_or_default(),
        files: bundle.files,
    })
}

/// The signature check on its own (also run on installed plugins).
pub fn check_signature(
    manifest: &[u8],
    sig: Option<&[u8]>,
    how: Signature<'_>,
) -> Result<(), Refusal> {
    let Signature::Check(roots) = how else {
        return Ok(());
    };
    let sig = sig.ok_or(Refusal::MissingSignature)?;
    if roots.is_empty() {
        return Err(Refusal::NoTrustRoot);
    }
    if sig.len() != SIGNATURE_LEN {
        return Err(Refusal::MalformedSignature(sig.len()));
    }
    if !roots.verifies(manifest, sig) {
        return Err(Refusal::BadSignature(roots.len()));
    }
    Ok(())
}

/// Refuses a plugin that needs a newer switchboard than `have`.
pub fn check_min_version(manifest: &Manifest, have: &str) -> Result<(), Refusal> {
    let Some(need) = &manifest.min_switchboard_version else {
        return Ok(());
    };
    let (Some(n), Some(h)) = (Version::parse(need), Version::parse(have)) else {
        return Err(Refusal::Manifest(format!(
            "cannot compare min_switchboard_version {need:?} with {have:?}"
        )));
    };
    if n > h {
        return Err(Refusal::TooNew {
            need: need.clone(),
            have: have.to_owned(),
        });
    }
    Ok(())
}
