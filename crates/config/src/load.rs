//! The two entry points: [`load`] a config file, or [`parse`] config text.
//!
//! Both run the same pipeline: YAML → located [`Document`](crate::document) (serde-saphyr
//! checks the shape and reports unknown, missing and duplicate keys with their location) →
//! expanded, typed, validated [`Config`] (`resolve`) → `SWITCHBOARD_UPSTREAMS` appended
//! (`federation`) → prefixes checked for uniqueness across both. The environment is injected,
//! never read directly, so tests and `switchboard check` see exactly what `serve` would.

use std::path::Path;

use crate::document::Document;
use crate::error::ConfigError;
use crate::federation;
use crate::model::Config;
use crate::resolve::{BuiltinCheck, Resolver, check_groups, check_unique_prefixes};

/// Reads the file, parses, expands, validates. `env` looks up environment variables (inject
/// `|name| std::env::var(name).ok()` in production, a fixed map in tests).
///
/// Relative `cwd`s resolve against the directory holding `path`.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    load_with(path, env, &|_, _| Ok(()))
}

/// [`load`], with each built-in connector's settings checked by `builtins` (`kind`, settings as
/// written with strings expanded → why not): the binary passes the connectors crate's check, so
/// a misspelt field fails `serve`, `check` and a reload alike. The config crate knows no
/// connector's fields.
pub fn load_with(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    builtins: BuiltinCheck<'_>,
) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::whole(&file, format!("cannot read the config file: {e}")))?;
    let base_dir = path.parent().unwrap_or(Path::new(""));
    build(&text, &file, base_dir, env, builtins)
}

/// Same as [`load`], from text; `source` is the file name used in error messages. Relative
/// `cwd`s resolve against the current directory.
pub fn parse(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    build(text, source, Path::new(""), env, &|_, _| Ok(()))
}

/// [`parse`], with built-in connectors' settings checked as in [`load_with`].
pub fn parse_with(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
    builtins: BuiltinCheck<'_>,
) -> Result<Config, ConfigError> {
    build(text, source, Path::new(""), env, builtins)
}

fn build(
    text: &str,
    file: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    builtins: BuiltinCheck<'_>,
) -> Result<Config, ConfigError> {
    let document: Document =
        serde_saphyr::from_str(text).map_err(|e| ConfigError::from_yaml(file, &e))?;
    let resolver = Resolver {
        file,
        env,
        base_dir,
        builtins,
        expand: true,
    };
    let (mut config, sites) = resolver.config(document)?;
    federation::append(&mut config, &sites, file, env)?;
    check_unique_prefixes(file, &config.upstreams, &sites)?;
    check_groups(file, &config.upstreams)?;
    Ok(config)
}
