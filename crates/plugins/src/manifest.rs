//! `manifest.json`: what a plugin is and what it consists of.
//!
//! ```json
//! { "name": "weather", "version": "1.2.0", "description": "…",
//!   "command": "bin/weather-mcp", "args": ["--stdio"],
//!   "min_switchboard_version": "0.1.0",
//!   "files": { "bin/weather-mcp": "<sha256 hex>", "data/cities.json": "<sha256 hex>" } }
//! ```
//!
//! `command` is a path inside the bundle (it must be one of `files`): the hashed file is the one
//! that runs. `files` names every file of the bundle except the manifest and its signature, by
//! a relative `/`-separated path with no `.`, `..` or empty component. Unknown keys are refused,
//! so a manifest written for a later format is never half-understood. The signature covers the
//! manifest's exact bytes; [`Manifest::to_json`] is how `pack` writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Refusal;
use crate::version::Version;
use crate::{MANIFEST, SIGNATURE};

/// Largest manifest read.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

/// A plugin's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// A path inside the bundle; the process started with the plugin's directory as its cwd.
    pub command: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_switchboard_version: Option<String>,
    /// Relative path → lower-case hex SHA-256.
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses and checks a manifest's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, Refusal> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Refusal::Manifest(format!(
                "larger than {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| Refusal::Manifest(e.to_string()))?;
        m.check().map_err(Refusal::Manifest)?;
        Ok(m)
    }

    /// The rules every manifest satisfies (the sentence says which one failed).
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.name)?;
        Version::parse(&self.version).ok_or_else(|| {
            format!(
                "`version` {:?} is not MAJOR.MINOR.PATCH (optionally -pre-release)",
                self.version
            )
        })?;
        if let Some(v) = &self.min_switchboard_version {
            Version::parse(v).ok_or_else(|| {
                format!("`min_switchboard_version` {v:?} is not MAJOR.MINOR.PATCH")
            })?;
        }
        check_path(&self.command).map_err(|e| format!("`command`: {e}"))?;
        if !self.files.contains_key(&self.command) {
            return Err(format!(
                "`command` {:?} is not one of `files`: the command must be a file of the bundle",
                self.command
            ));
        }
        if self.args.iter().any(|a| a.contains('\0')) || self.description.contains('\0') {
            return Err("`args` and `description` must not contain NUL".to_owned());
        }
        for (path, hash) in &self.files {
            check_path(path).map_err(|e| format!("`files`: {e}"))?;
            if path == MANIFEST || path == SIGNATURE {
                return Err(format!("`files` must not list {path} itself"));
            }
            if crate::parse_sha256(hash).is_none() {
                return Err(format!(
                    "`files.{path}` is not a lower-case hex SHA-256 (64 characters)"
                ));
            }
            // A file cannot also be a directory of another file.
            let mut prefix = path.clone();
            prefix.push('/');
            if self
                .files
                .range(prefix.clone()..)
                .next()
                .is_some_and(|(p, _)| p.starts_with(&prefix))
            {
                return Err(format!(
                    "`files` lists `{path}` both as a file and as a directory"
                ));
            }
        }
        Ok(())
    }

    /// The manifest as `pack` writes it (pretty JSON, keys in a fixed order, a final newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// The expected SHA-256 of `path`, if listed.
    pub fn sha256_of(&self, path: &str) -> Option<[u8; 32]> {
        self.files.get(path).and_then(|h| crate::parse_sha256(h))
    }
}

/// Plugin names: the rules of upstream names (`[A-Za-z0-9][A-Za-z0-9_-]{0,63}`), since a loaded
/// plugin is an upstream of that name and its directory is named after it too.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        Err(format!(
            "`name` {:?} must be 1 to 64 letters, digits, `_` or `-`, starting with a letter or digit",
            name
        ))
    }
}

/// Longest path inside a bundle, and the deepest.
const MAX_PATH_BYTES: usize = 1024;
const MAX_DEPTH: usize = 32;

/// A path that stays inside the directory it is joined to, whatever the platform: relative,
/// `/`-separated, no `.`, `..` or empty component, no backslash, no control character.
pub fn check_path(path: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("path {path:?} {why}"));
    if path.is_empty() {
        return bad("is empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return bad("is too long");
    }
    if path.starts_with('/') {
        return bad("is absolute");
    }
    if path.contains('\\') {
        return bad("contains a backslash");
    }
    if path.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    let mut depth = 0;
    for part in path.split('/') {
        match part {
            "" => return bad("has an empty component"),
            "." => return bad("has a `.` component"),
            ".." => return bad("has a `..` component (it would leave the bundle)"),
            p if p.len() > 255 => return bad("has a component over 255 bytes"),
            _ => depth += 1,
        }
    }
    if depth > MAX_DEPTH {
        return bad("is nested too deep");
    }
    Ok(())
}

/// The `SRC_DIR` template `pack` starts from: `plugin.yaml` or `manifest.json` naming at least
/// `name`, `version` and `command`. `files` is computed by `pack`; a template's own is ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub min_switchboard_version: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    files: Option<serde::de::IgnoredAny>,
}

impl Template {
    /// Parses `plugin.yaml` text.
    pub fn from_yaml(text: &str) -> Result<Template, String> {
        serde_saphyr::from_str(text).map_err(|e| format!("plugin.yaml: {e}"))
    }

    /// Parses a `manifest.json` template.
    pub fn from_json(bytes: &[u8]) -> Result<Template, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("manifest.json: {e}"))
    }

    /// The manifest with these fields and `files`.
    pub fn into_manifest(self, files: BTreeMap<String, String>) -> Manifest {
        Manifest {
            name: self.name,
            version: self.version,
            description: self.description,
            command: self.command,
            args: self.args,
            min_switchboard_version: self.min_switchboard_version,
            files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_bundle_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/.",
            "a\\..\\b",
            "a\nb",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "bin/server", "a.b/c-d_e", "..a", "a..b"] {
            assert!(check_path(good).is_ok(), "{good:?}");
        }
    }
}
